// The results page's bulk review: accept or reject every pending answer on the items the current filter shows.

import { readJSON } from "./dom.js";
import { reviewInBulk } from "./bulk-review.js";

const request = readJSON("review-request");

for (const button of document.querySelectorAll("#bulk-review button[data-decision]")) {
  button.addEventListener("click", () =>
    reviewInBulk(request.job, { decision: button.dataset.decision, filter: request.filter }, "on the items this filter shows"),
  );
}
