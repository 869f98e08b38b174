import pytest

import dqnlib


@pytest.mark.parametrize(
    "name", ["Breakout", "breakout", "ALE/Breakout-v5", "BreakoutNoFrameskip-v4", "Breakout-v0", " BREAKOUT "]
)
def test_spellings_resolve_to_one_game(name):
    assert dqnlib.resolve_game(name) == "breakout"


@pytest.mark.parametrize("name", ["MsPacman", "ms_pacman", "MsPacmanNoFrameskip-v4", "ALE/MsPacman-v5"])
def test_multi_word_names(name):
    assert dqnlib.resolve_game(name) == "ms_pacman"
    assert dqnlib.display_name(name) == "MsPacman"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="did you mean Breakout") as info:
        dqnlib.resolve_game("Breakot")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["", "   ", "Zzzzqqq", 3, None])
def test_bad_names_are_one_line_errors(name):
    with pytest.raises(ValueError) as info:
        dqnlib.resolve_game(name)
    assert "\n" not in str(info.value)


def test_list_games_holds_installed_roms():
    games = dqnlib.list_games()
    assert {"Breakout", "Pong", "SpaceInvaders", "MsPacman"} <= set(games)
    assert len(games) >= 100


def test_action_codes_follow_the_ale_manual():
    assert dqnlib.ACTION_NAMES[0] == "NOOP" and dqnlib.ACTION_NAMES[1] == "FIRE"
    assert dqnlib.ACTION_NAMES[11] == "RIGHTFIRE" and dqnlib.ACTION_NAMES[17] == "DOWNLEFTFIRE"
    assert dqnlib.full_action_set() == tuple(range(18))
    assert dqnlib.action_name(dqnlib.PLAYER_B_OFFSET + 2) == "B_UP"  # player B's up is 20
    assert dqnlib.action_name(dqnlib.RESET_ACTION) == "RESET"
    with pytest.raises(ValueError):
        dqnlib.action_name(39)


def test_minimal_action_sets():
    assert dqnlib.minimal_action_set("Breakout") == (0, 1, 3, 4)
    assert dqnlib.minimal_action_set("Pong") == (0, 1, 3, 4, 11, 12)
    table = dqnlib.action_set_table(["Breakout", "Pong"])
    assert table["Breakout"] == ["NOOP", "FIRE", "RIGHT", "LEFT"]
    assert len(table["Pong"]) == 6
