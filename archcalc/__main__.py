from archcalc.cli import run

run()
