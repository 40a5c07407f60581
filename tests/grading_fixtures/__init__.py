"""Student code (correct, with known mistakes, stubs) and notebook builders for the checks and grader tests."""
