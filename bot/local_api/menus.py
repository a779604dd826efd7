"""setMyCommands, getMyCommands and deleteMyCommands with scopes and languages, as Telegram
documents them ("Determining list of commands"): each list is kept per scope and language code,
getMyCommands answers the list of exactly that scope and language ([] when none is set), and
`menu_seen_in` resolves what a person sees in a chat, the most specific list winning."""

from __future__ import annotations

from typing import Any

from bot.local_api.methods import ApiError

# The scopes of the Bot API (BotCommandScope*) and the fields each needs besides its type.
SCOPE_FIELDS: dict[str, tuple[str, ...]] = {
    "default": (),
    "all_private_chats": (),
    "all_group_chats": (),
    "all_chat_administrators": (),
    "chat": ("chat_id",),
    "chat_administrators": ("chat_id",),
    "chat_member": ("chat_id", "user_id"),
}
ScopeKey = tuple[Any, ...]


def scope_key(scope: Any) -> ScopeKey:
    """The scope as a key (type, then its ids); no scope is the default one. Refuses, in
    Telegram's words, a scope it cannot read."""
    if scope is None:
        return ("default",)
    if not isinstance(scope, dict) or scope.get("type") not in SCOPE_FIELDS:
        raise ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
    ids = []
    for field in SCOPE_FIELDS[scope["type"]]:
        value = scope.get(field)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ApiError(400, f"Bad Request: can't parse BotCommandScope JSON object: field \"{field}\" is missing")
        ids.append(value)
    return (scope["type"], *ids)


def _language(params: dict[str, Any]) -> str:
    language = params.get("language_code") or ""
    if not isinstance(language, str) or (language and not (len(language) == 2 and language.isalpha())):
        raise ApiError(400, "Bad Request: invalid language code specified")
    return language.lower()


class CommandMenus:
    """The command-menu methods of `LocalBotApi`, over its `command_menus`."""

    command_menus: dict[tuple[ScopeKey, str], list[dict[str, str]]]

    def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        key = (scope_key(params.get("scope")), _language(params))
        commands = [{"command": c["command"], "description": c["description"]} for c in params["commands"]]
        if commands:
            self.command_menus[key] = commands
        else:
            self.command_menus.pop(key, None)  # an empty list deletes, as deleteMyCommands does
        return True

    def _api_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return list(self.command_menus.get((scope_key(params.get("scope")), _language(params)), []))

    def _api_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        self.command_menus.pop((scope_key(params.get("scope")), _language(params)), None)
        return True

    def menu_seen_in(self, chat_id: int, *, user_id: int | None = None, admin: bool = False,
                     language_code: str = "") -> list[str]:
        """The command names a person sees in a chat (a private one when `chat_id` > 0), in
        Telegram's order of precedence: the most specific scope first, each with the person's
        language before without it."""
        if chat_id > 0:
            scopes: list[ScopeKey] = [("chat", chat_id), ("all_private_chats",), ("default",)]
        else:
            member = [("chat_member", chat_id, user_id)] if user_id is not None else []
            administrators = [("chat_administrators", chat_id)] if admin else []
            scopes = [*member, *administrators, ("chat", chat_id),
                      *([("all_chat_administrators",)] if admin else []), ("all_group_chats",), ("default",)]
        for scope in scopes:
            for language in dict.fromkeys((language_code.lower(), "")):
                commands = self.command_menus.get((scope, language))
                if commands:
                    return [command["command"] for command in commands]
        return []
