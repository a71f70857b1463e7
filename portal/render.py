"""A page and its htmx fragment from one template: the whole page normally, one block for htmx; and
the notices a page flashes for the next one."""
from __future__ import annotations

from typing import cast

from flask import current_app, flash, request


def flash_notice(kind: str, value: str) -> None:
    """A notice for the next page, as a (kind, value) pair: templates read them with
    `{% for kind, value in get_flashed_messages() %}` and word them in the page's language. Flask types
    the message as str, but keeps any value its session serializer can tag, a tuple among them."""
    flash(cast(str, (kind, value)))


def page_or_fragment(template_name: str, block: str, **context) -> str:
    """Render the full template, or only `block` when htmx asks for it (HX-Request, not a boosted
    navigation and not a history restore)."""
    htmx = request.headers.get("HX-Request") == "true" and not request.headers.get("HX-History-Restore-Request")
    if not htmx:
        from flask import render_template

        return render_template(template_name, **context)
    return render_block(template_name, block, **context)


def render_block(template_name: str, block: str, **context) -> str:
    """One block of a template, alone (with the app's template context)."""
    template = current_app.jinja_env.get_template(template_name)
    current_app.update_template_context(context)
    return "".join(template.blocks[block](template.new_context(context)))
