"""The steps instructor commands share: finding submissions, grading one in a child process, its gradebook, shards."""
