"""How the course shows the runs: the notebooks' helpers, generated conclusions, figures, the headless
report and the course site."""
