"""pytest plugin (entry point ``archcalc``): placeholder until the testing helpers land."""
