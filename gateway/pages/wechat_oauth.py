"""The complainant's H5 opened from the 公众号 menu: WeChat web authorisation (网页授权) with
scope snsapi_base, which tells us the openid without asking the user anything.

    browser -> {authorize}?appid=APPID&redirect_uri=URI&response_type=code&scope=snsapi_base
               &state=STATE#wechat_redirect
    WeChat  -> 302 URI?code=CODE&state=STATE          (a code is good once, for five minutes)
    gateway -> GET {api_base}/sns/oauth2/access_token?appid=APPID&secret=SECRET&code=CODE
               &grant_type=authorization_code
            <- {"access_token": "...", "expires_in": 7200, "refresh_token": "...",
                "openid": "OPENID", "scope": "snsapi_base"}
               or {"errcode": 40029, "errmsg": "invalid code"}   (40163: code been used)

WeChat answers JSON labelled text/plain, so the body is parsed whatever its type says. The
secret travels in the query string: transport errors (whose text names the URL) are reported
by their type only. The access token is not kept: the openid is all the H5 needs.
"""
from __future__ import annotations

import json
import re
from urllib.parse import quote, urlencode

import requests

MAX_RESPONSE_BYTES = 16 * 1024
_CODE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# WeChat: "state ... a-zA-Z0-9 的参数值，最多128字节".
_STATE = re.compile(r"[A-Za-z0-9]{1,128}")


class OAuthError(Exception):
    """No openid from this code. `errcode` is WeChat's when it gave one."""

    def __init__(self, message: str, errcode: int | None = None):
        super().__init__(message)
        self.errcode = errcode


def authorize_url(authorize_base: str, app_id: str, redirect_uri: str, state: str) -> str:
    """Where to send the browser. `state` must be 1–128 letters and digits (WeChat's rule;
    e.g. secrets.token_hex(16)), else ValueError."""
    if not _STATE.fullmatch(state or ""):
        raise ValueError("state must be 1-128 characters of a-zA-Z0-9")
    # WeChat checks the parameters in this order, and the fragment must come last.
    query = urlencode({"appid": app_id, "redirect_uri": redirect_uri, "response_type": "code",
                       "scope": "snsapi_base", "state": state}, quote_via=quote)
    return f"{authorize_base}?{query}#wechat_redirect"


def openid_for(api_base: str, app_id: str, app_secret: str, code: str, timeout: float = 5.0,
               session=None) -> str:
    """The openid of the user a code was given for (WeChat forgets the code after this)."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise OAuthError("微信授权码无效 (malformed code)")
    http = session or requests
    url = f"{api_base.rstrip('/')}/sns/oauth2/access_token"
    params = {"appid": app_id, "secret": app_secret, "code": code,
              "grant_type": "authorization_code"}
    try:
        with http.get(url, params=params, timeout=timeout, stream=True,
                      allow_redirects=False) as answer:
            status = answer.status_code
            body = _read_capped(answer)
    except requests.RequestException as exc:
        raise OAuthError(f"微信服务暂不可用 (WeChat API unreachable: {type(exc).__name__})"
                         ) from None
    if status != 200:
        raise OAuthError(f"微信服务应答异常 (WeChat answered HTTP {status})")
    if body is None:
        raise OAuthError("微信服务应答过大 (WeChat response too large)")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("微信服务应答无法识别 (WeChat response is not JSON)") from None
    if not isinstance(data, dict):
        raise OAuthError("微信服务应答无法识别 (WeChat response is not a JSON object)")
    errcode = data.get("errcode")
    if errcode not in (None, 0):
        code_number = errcode if isinstance(errcode, int) and not isinstance(errcode, bool) \
            else None
        raise OAuthError(f"微信授权未通过，请重新打开页面 (WeChat errcode {errcode!s:.16})",
                         code_number)
    # A snapshot-page (快照页) visitor gets a virtual openid that is nobody's account.
    if data.get("is_snapshotuser") == 1:
        raise OAuthError("请在微信中打开完整页面 (WeChat snapshot-page user)")
    openid = data.get("openid")
    if not isinstance(openid, str) or not _OPENID.fullmatch(openid):
        raise OAuthError("微信服务应答缺少用户标识 (WeChat response has no valid openid)")
    return openid


def _read_capped(answer) -> bytes | None:
    chunks, size = [], 0
    for chunk in answer.iter_content(4096):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
