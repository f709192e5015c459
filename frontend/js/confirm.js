// On every page: a form with data-confirm asks before it sends (cancel a job, block a worker).

document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
