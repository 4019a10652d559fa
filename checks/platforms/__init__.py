"""Deployments of the grader on teaching platforms: Gradescope's autograder zip and PrairieLearn's external grader."""
