"""The exercise's contract as data and functions: scenarios, the model that judges them, and their generators."""
