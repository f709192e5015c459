"""The automated path: a model answers the items it can answer at the requester's target accuracy, and people
answer the rest, least confident first. See docs/AUTOMATION.md."""
