"""What builds the course: the student notebooks and their setup cell, the benchmark, the notebook runner."""
