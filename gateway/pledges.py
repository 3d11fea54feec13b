"""R3: every channel's filing carries the complainant's pledge that it is true, recorded in
the words of the channel that took it (intake refuses a filing without one, R10's unit
reports apart). The hotline's words are intake's (its calls module): an operator reads the
pledge aloud, or the voicemail greeting plays it.

The app shows the pledge beside the submit button and sends `"pledge": true` when the
complainant ticked it; WeChat asks for it in the dialogue before filing; an Open311 app sends
the `pledge` attribute of the service definition. The bodies that carry a pledge are
gateway/schemas.py's AppFilingSchema and OperatorFilingSchema.
"""
from __future__ import annotations

PROMISE = "本人承诺所反映情况真实、准确,不捏造、歪曲事实,如有不实愿承担相应责任"

APP = f"诉求人在智慧山工院APP提交前勾选确认:“{PROMISE}”。"
WECHAT = f"诉求人在微信公众号对话中回复「确认」,承诺如实反映:“{PROMISE}”。"


def open311(app: str) -> str:
    return f"诉求人在第三方应用 {app} 提交时确认(Open311 属性 pledge=yes):“{PROMISE}”。"

