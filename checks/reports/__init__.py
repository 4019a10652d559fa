"""The grade as data and every way it is written: scorecard and JSON, GitHub, Gradescope."""
