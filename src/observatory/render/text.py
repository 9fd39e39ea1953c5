"""Text templates shipped with the package (`observatory/render/templates/`), rendered with jinja2.

For output that is fixed prose with a few values in it, where a template shows the file as it will
read. A name the template uses that the caller does not pass is an error, never an empty string.
Nothing is escaped (the output is not HTML), and a line holding only a block tag leaves nothing behind.
"""

from __future__ import annotations

import jinja2

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("observatory.render", "templates"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    keep_trailing_newline=True,
)


def render(template: str, **values: object) -> str:
    """The text of `template` (a file name under templates/) with `values` filled in."""
    return _ENVIRONMENT.get_template(template).render(**values)
