"""The Concurrent Requests grader: the item catalogue, the stand-in API, its probes and the checks."""
