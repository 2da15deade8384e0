"""Every function of the contract, for deployment: one functions-framework target each,
named as the function with `_` for `-`.

functions-framework --source functions/main.py --target pause_activate
"""

from functions.catalogue import functions_by_name
from functions.shared.config import config_or_exit
from functions.shared.identity import check_configuration

# At the instance's start, not at its first request: a bad variable stops it, and a
# deployment that can verify no credential says so.
config_or_exit()
check_configuration()

# functions-framework looks each target up by name among this module's plain functions.
for _function in functions_by_name().values():
    globals()[_function.target] = _function.serve
