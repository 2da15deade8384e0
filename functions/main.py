"""Every function of the contract, for deployment: one functions-framework target each.

functions-framework --source functions/main.py --target pause_activate
"""

from functions.auto_resume import auto_resume
from functions.interaction_gate import interaction_gate
from functions.pause_activate import pause_activate
from functions.pause_extend import pause_extend
from functions.pause_logger import pause_logger
from functions.pause_resume import pause_resume
from functions.pause_settings import pause_settings
from functions.pause_status import pause_status

TARGETS = {
    "pause-activate": pause_activate,
    "pause-extend": pause_extend,
    "pause-resume": pause_resume,
    "interaction-gate": interaction_gate,
    "pause-logger": pause_logger,
    "pause-status": pause_status,
    "pause-settings": pause_settings,
    "auto-resume": auto_resume,
}

__all__ = [
    "TARGETS",
    "auto_resume",
    "interaction_gate",
    "pause_activate",
    "pause_extend",
    "pause_logger",
    "pause_resume",
    "pause_settings",
    "pause_status",
]
