"""The instructor's wing: the grader, its sandbox, the platforms' result files, nbgrader, and the exercises it grades."""
