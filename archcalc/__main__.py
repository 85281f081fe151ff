from archcalc.cli.app import run

run()
