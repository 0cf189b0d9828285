"""/login: the sign-in page. Plain server-rendered HTML, not a Dash page.

It must work before anyone is signed in, and nothing of Dash (its layout, its callbacks) is
served to an anonymous visitor; a plain form also needs no script at all, so the strict CSP costs
it nothing. Dark and Chinese, in the wall's colours.
"""

from __future__ import annotations

from markupsafe import Markup, escape

CSS = """
:root { --bg: #040a15; --panel: rgba(9, 25, 48, 0.82); --edge: #1b4470; --text: #e6f1ff;
  --muted: #8aa4c8; --accent: #38c6ff; --red: #ff3b3b;
  --cjk: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC",
    "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; }
html, body { margin: 0; height: 100%; color: var(--text); font-family: var(--cjk);
  background: radial-gradient(ellipse at 50% -20%, rgba(56, 198, 255, 0.18), transparent 60%),
    linear-gradient(180deg, #06152b 0%, var(--bg) 70%); }
body { display: grid; place-items: center; }
.login { width: min(26rem, 90vw); padding: 2.2rem 2.4rem 2rem; background: var(--panel);
  border: 1px solid var(--edge); box-shadow: 0 0 2.5rem rgba(56, 198, 255, 0.12); }
.login-city { color: var(--accent); letter-spacing: 0.2em; font-size: 0.95rem; }
.login h1 { margin: 0.3rem 0 1.6rem; font-size: 1.6rem; letter-spacing: 0.12em; }
.login label { display: block; margin: 0 0 0.35rem; color: var(--muted); font-size: 0.9rem; }
.login input { box-sizing: border-box; width: 100%; margin-bottom: 1.1rem; padding: 0.65rem 0.8rem;
  font: inherit; color: var(--text); background: #06152b; border: 1px solid var(--edge); }
.login input:focus { outline: none; border-color: var(--accent); }
.login button { width: 100%; padding: 0.7rem; font: inherit; font-weight: 700;
  letter-spacing: 0.4em; color: #041022; background: var(--accent); border: 0; cursor: pointer; }
.login-error { margin: 0 0 1.1rem; padding: 0.6rem 0.8rem; color: #ffd6d6;
  border-left: 3px solid var(--red); background: rgba(255, 59, 59, 0.12); }
.login-note { margin: 1.2rem 0 0; color: var(--muted); font-size: 0.8rem; line-height: 1.6; }
.login-text { margin: 0 0 1.2rem; line-height: 1.7; }
.login-text b { color: var(--accent); font-weight: 700; }
.login-switch button { letter-spacing: 0.15em; }
.login a { display: block; margin-top: 1rem; color: var(--muted); text-align: center; }
"""


def render(csrf_token: str, next_url: str = "", error: str = "", username: str = "") -> str:
    """The sign-in page; every value is escaped, including the error text."""
    problem = Markup('<p class="login-error" role="alert">{}</p>').format(error) if error else ""
    return Markup(_PAGE).format(
        problem=problem,
        csrf=csrf_token,
        next=next_url,
        username=username,
    )


def kiosk_switch(
    csrf_token: str, token: str, next_url: str, display: str, name: str, wall: str
) -> str:
    """The question a signed-in person gets for a wall link: switching needs a POST."""
    who = Markup("<b>{}</b>").format(display)
    if display != name:
        who += Markup("（{}）").format(name)
    return Markup(_SWITCH).format(csrf=csrf_token, token=token, next=next_url, who=who, wall=wall)


def refused(message: str) -> str:
    """A page for a wall link that does not work (revoked, expired or mistyped): nothing to type."""
    return Markup(_REFUSED).format(message=escape(message))


_HEAD = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 · OneMap 一图统览</title><link rel="stylesheet" href="/login.css"></head>"""

_PAGE = _HEAD + """
<body><main class="login">
<div class="login-city">宁波市</div><h1>基层治理 · 一图统览</h1>
{problem}
<form method="post" action="/login" autocomplete="off">
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label for="username">用户名</label>
<input id="username" name="username" value="{username}" required autofocus>
<label for="password">密码</label>
<input id="password" name="password" type="password" required>
<button type="submit">登录</button>
</form>
<p class="login-note">大屏请使用管理员下发的专用链接打开，无需输入密码。</p>
</main></body></html>"""

_SWITCH = _HEAD + """
<body><main class="login">
<div class="login-city">宁波市</div><h1>打开大屏链接？</h1>
<p class="login-text">此浏览器已登录为 {who}。</p>
<p class="login-text">打开大屏链接「{wall}」会退出您的登录，此浏览器将成为该大屏。</p>
<form class="login-switch" method="post" action="/kiosk">
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="kiosk" value="{token}">
<input type="hidden" name="next" value="{next}">
<button type="submit">退出登录并作为大屏打开</button>
</form>
<a href="{next}">保留登录，不打开大屏</a>
<p class="login-note">大屏链接应在大屏专用的浏览器中打开。</p>
</main></body></html>"""

_REFUSED = _HEAD + """
<body><main class="login">
<div class="login-city">宁波市</div><h1>基层治理 · 一图统览</h1>
<p class="login-error" role="alert">{message}</p>
<p class="login-note">请联系管理员重新下发大屏链接（onemap kiosk add）。</p>
</main></body></html>"""
