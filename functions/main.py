"""Every function of the contract, for deployment: one functions-framework target each,
named as the function with `_` for `-`.

functions-framework --source functions/main.py --target pause_activate
"""

from functions.catalogue import functions_by_name

# functions-framework looks each target up by name among this module's plain functions.
for _function in functions_by_name().values():
    globals()[_function.target] = _function.serve
