from labelfix.cli import app

app(prog_name="labelfix")
