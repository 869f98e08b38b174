"""Atari game names and action sets, as the ALE manual describes them.

Game names are resolved to ale-py's ROM ids (``"breakout"``), whatever spelling a user
brings: ``"Breakout"``, ``"ALE/Breakout-v5"``, ``"BreakoutNoFrameskip-v4"`` or the old
gym id ``"Breakout-v0"``. Action codes follow the ALE manual (``common/Constants.h``):
player A uses 0..17, player B uses ``18 + code``, and RESET is 40.
"""

from __future__ import annotations

import difflib
import functools
import re

import ale_py
from ale_py import roms

#: Player A's action codes 0..17 and their names, as the ALE manual lists them.
ACTION_NAMES: dict[int, str] = {int(action.value): name for name, action in ale_py.Action.__members__.items()}
#: Offset of player B's codes: player B's ``UP`` is ``18 + 2 = 20``.
PLAYER_B_OFFSET = 18
#: The RESET action toggles the console's reset switch; interfaces ignore it as an action.
RESET_ACTION = 40

_GYM_SUFFIX = re.compile(r"(NoFrameskip|Deterministic)?-v\d+$")


@functools.cache
def _display_names() -> dict[str, str]:
    """ROM id -> gymnasium's CamelCase name (``"ms_pacman"`` -> ``"MsPacman"``), for the games
    that ale-py registers with gymnasium (its multiplayer-only ROMs are left out)."""
    import gymnasium

    gymnasium.register_envs(ale_py)
    names = {
        spec.kwargs["game"]: env_id[len("ALE/") : -len("-v5")]
        for env_id, spec in gymnasium.registry.items()
        if env_id.startswith("ALE/") and env_id.endswith("-v5") and "game" in spec.kwargs
    }
    return names


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def list_games() -> list[str]:
    """The installed games, by display name (``["Adventure", "AirRaid", ...]``)."""
    return sorted(_display_names().values())


def resolve_game(name: str) -> str:
    """Resolve any common spelling of a game name to its ale-py ROM id.

    Args:
        name: e.g. ``"Breakout"``, ``"breakout"``, ``"ALE/Breakout-v5"``,
            ``"BreakoutNoFrameskip-v4"``, ``"Breakout-v0"`` or ``"ms_pacman"``.
    Returns:
        The ROM id, e.g. ``"breakout"``.
    Raises:
        ValueError: one line naming up to three close matches for an unknown name.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"game must be a non-empty string, got {name!r}; see dqnlib.list_games()")
    bare = _GYM_SUFFIX.sub("", name.strip().removeprefix("ALE/"))
    by_key = {_key(display): rom_id for rom_id, display in _display_names().items()}
    by_key.update({_key(rom_id): rom_id for rom_id in _display_names()})
    if _key(bare) in by_key:
        return by_key[_key(bare)]
    displays = {_key(display): display for display in _display_names().values()}
    close = [displays[k] for k in difflib.get_close_matches(_key(bare), list(displays), n=3, cutoff=0.6)]
    hint = f"did you mean {' or '.join(close)}?" if close else "no installed game is close"
    raise ValueError(f"unknown game {name!r}; {hint} See dqnlib.list_games().")


def is_atari(game: str) -> bool:
    """Whether ``game`` names an installed Atari game (rather than another gymnasium id)."""
    try:
        resolve_game(game)
    except ValueError:
        return False
    return True


def display_name(game: str) -> str:
    """The CamelCase name of a game, e.g. ``display_name("ms_pacman") == "MsPacman"``."""
    return _display_names()[resolve_game(game)]


def action_name(code: int) -> str:
    """Name of an ALE action code: 0..17 for player A, 18..35 for player B, 40 for RESET."""
    if code == RESET_ACTION:
        return "RESET"
    if code in ACTION_NAMES:
        return ACTION_NAMES[code]
    if code - PLAYER_B_OFFSET in ACTION_NAMES:
        return f"B_{ACTION_NAMES[code - PLAYER_B_OFFSET]}"
    raise ValueError(f"action code {code} is not an ALE action; allowed: 0..35 and 40")


@functools.cache
def minimal_action_set(game: str) -> tuple[int, ...]:
    """The ALE action codes of a game's minimal action set, in the order the
    environments number their actions (environment action ``i`` is code ``set[i]``).
    """
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    rom_id = resolve_game(game)
    ale.loadROM(roms.get_rom_path(rom_id))
    return tuple(int(action.value) for action in ale.getMinimalActionSet())


def full_action_set() -> tuple[int, ...]:
    """The 18 codes of player A's full action set, 0..17."""
    return tuple(sorted(ACTION_NAMES))


def action_set_table(games: list[str]) -> dict[str, list[str]]:
    """Minimal action sets of several games, by name: ``{"Breakout": ["NOOP", "FIRE", ...]}``."""
    return {display_name(game): [ACTION_NAMES[code] for code in minimal_action_set(game)] for game in games}
