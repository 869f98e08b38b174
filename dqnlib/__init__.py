"""dqnlib: Deep Q-Networks on Atari, readable and fast."""

from dqnlib.agent import AtariDQNAgent, DQNAgent
from dqnlib.checkpoint import VERSION as __version__
from dqnlib.config import TrainConfig, make_config
from dqnlib.envs import AtariOptions, AtariVectorEnv, make_env, make_vector_env
from dqnlib.games import (
    ACTION_NAMES,
    PLAYER_B_OFFSET,
    RESET_ACTION,
    action_name,
    action_set_table,
    display_name,
    full_action_set,
    list_games,
    minimal_action_set,
    resolve_game,
)
from dqnlib.preprocessing import preprocess_observation
from dqnlib.replay import ReplayMemory, Transition

__all__ = [
    "ACTION_NAMES",
    "PLAYER_B_OFFSET",
    "RESET_ACTION",
    "AtariDQNAgent",
    "AtariOptions",
    "AtariVectorEnv",
    "DQNAgent",
    "ReplayMemory",
    "TrainConfig",
    "Transition",
    "__version__",
    "action_name",
    "action_set_table",
    "display_name",
    "full_action_set",
    "list_games",
    "make_config",
    "make_env",
    "make_vector_env",
    "minimal_action_set",
    "preprocess_observation",
    "resolve_game",
]
