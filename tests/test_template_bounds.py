"""Chat templates are untrusted code: the hostile templates of issue 17, each stopped cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialogkit.errors import TemplateError
from dialogkit.templates import load_template, render_messages
from dialogkit.templates import worker as template_worker

DAG = "{% set ns = namespace(s=[1]) %}" + "{% set ns.s = [ns.s, ns.s] %}" * 36
LIMIT = "(limit 40000000, --max-template-chars)"


def _render(template: str, **kw: object) -> str:
    text, _ = render_messages([{"role": "user", "content": "x"}], template, **kw)  # type: ignore[arg-type]
    return text


# -- item 1: time is bounded whatever the template does -----------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{% set s = 'a' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        DAG + "{{ ns.s|tojson }}",
    ],
    ids=["loops-that-call-nothing", "tojson-of-2^36-leaves"],
)
def test_deadline_holds_in_the_loop_machinery(template: str) -> None:
    with pytest.raises(TemplateError) as info:
        _render(template, time_limit=0.5)
    assert str(info.value) == "chat template ran away: rendering took more than 0.5s"


def test_what_the_sandbox_cannot_interrupt_is_stopped_by_the_wall_clock() -> None:
    # repr of a 2^36-leaf list runs in C, where no check of ours is reached
    with pytest.raises(TemplateError) as info:
        _render(DAG + "{{ ns.s }}", time_limit=0.5)
    assert str(info.value) == (
        "chat template ran away: rendering took more than 0.5s (the worker was stopped)"
    )
    assert _render("{{ 1 + 1 }}") == "2"  # a fresh worker takes the next render


# -- item 2: every string-producing operation is sized before it runs ---------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'a'|center(2000000000)|length }}", f"a padded value of 2000000000 characters {LIMIT}"),
        ("{{ 'x'.ljust(2000000000)|length }}", f"a padded value of 2000000000 characters {LIMIT}"),
        ("{{ 'x'.rjust(2000000000)|length }}", f"a padded value of 2000000000 characters {LIMIT}"),
        ("{{ 'x'.zfill(2000000000)|length }}", f"a padded value of 2000000000 characters {LIMIT}"),
        ("{{ ('\t' * 1000).expandtabs(2000000)|length }}",
         f"an expandtabs of 2000001000 characters {LIMIT}"),
        ("{{ ('%2000000000d' % 1)|length }}",
         f"a formatted field of 2000000000 characters {LIMIT}"),
        ("{{ ('%*d' % (2000000000, 1))|length }}",
         f"a formatted field of 2000000000 characters {LIMIT}"),
        ("{{ '{:>2000000000}'.format('a')|length }}",
         f"a formatted field of 2000000000 characters {LIMIT}"),
        ("{{ '{:>{w}}'.format('a', w=2000000000)|length }}",
         f"a formatted field of 2000000000 characters {LIMIT}"),
        ("{{ ('a' * 1000)|replace('a', 'b' * 3000000)|length }}",
         f"a replace of 3000000000 characters {LIMIT}"),
        ("{{ ('a' * 1000).replace('a', 'b' * 3000000)|length }}",
         f"a replace of 3000000000 characters {LIMIT}"),
        ("{{ ('a' * 1000)|join('b' * 3000000)|length }}",
         f"a join of 2997001000 characters {LIMIT}"),
        ("{{ ('b' * 3000000).join('a' * 1000)|length }}",
         f"a join of 2997001000 characters {LIMIT}"),
        ("{% set ns = namespace(s='x' * 1000) %}{% for i in range(40) %}"
         "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
         f"a ~ concatenation of 65536000 characters {LIMIT}"),
        ("{% set ns = namespace(s='x' * 1000) %}{% for i in range(40) %}"
         "{% set ns.s = '%s%s'|format(ns.s, ns.s) %}{% endfor %}{{ ns.s|length }}",
         f"a value of 65536000 characters {LIMIT}"),
        ("{{ [[1]]|tojson(indent=500000000)|length }}",
         f"a tojson indent of 500000000 characters {LIMIT}"),
        ("{{ ('a\n' * 1000)|indent(3000000)|length }}",
         f"an indent of 3003002000 characters {LIMIT}"),
        ("{{ ('a ' * 1000)|wordwrap(1, wrapstring='x' * 3000000)|length }}",
         f"a wordwrap of 6003002000 characters {LIMIT}"),
        ("{{ (1).to_bytes(2000000000, 'big')|length }}",
         f"a to_bytes of 2000000000 characters {LIMIT}"),
        ("{{ [1]|batch(2000000000, 0)|list|length }}",
         f"a batch or slice of 2000000000 characters {LIMIT}"),
    ],
)
def test_string_building_is_sized_first(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        _render(template)
    assert str(info.value) == f"chat template ran away: {message}"


def test_max_template_chars_is_the_limit() -> None:
    assert _render("{{ 'a'|center(2000)|length }}", max_template_chars=2000) == "2000"
    with pytest.raises(TemplateError, match=r"a padded value of 2001 characters \(limit 2000"):
        _render("{{ 'a'|center(2001)|length }}", max_template_chars=2000)


def test_memory_ceiling_catches_what_no_size_check_sees() -> None:
    # the repr of a list of big strings is built by C code no check of ours reaches
    tpl = "{% set s = 'x' * 30000000 %}{{ ([s] * 1000)|string|length }}"
    with pytest.raises(TemplateError) as info:
        _render(tpl, max_memory=128 << 20, time_limit=60)
    assert str(info.value) == "chat template ran away: out of memory (more than 128 MiB)"
    assert _render("{{ 'ok' }}", max_memory=128 << 20) == "ok"  # the worker was replaced


def test_worker_has_the_memory_ceiling() -> None:
    resource = pytest.importorskip("resource")
    assert resource  # POSIX only
    _render("{{ 1 }}")
    pid = template_worker._WORKER.proc.pid  # type: ignore[union-attr]
    limits = Path(f"/proc/{pid}/limits")
    if not limits.exists():
        pytest.skip("no /proc")
    line = next(x for x in limits.read_text().splitlines() if x.startswith("Max address space"))
    soft = int(line.split()[3])
    assert template_worker.DEFAULT_MAX_MEMORY < soft < template_worker.DEFAULT_MAX_MEMORY + (
        512 << 20
    )


def test_real_values_still_render() -> None:
    tpl = "{{ 'ab'|center(6) }}|{{ 'x'.ljust(3) }}|{{ '%3d' % 7 }}|{{ '{:>3}'.format(1) }}"
    assert _render(tpl) == "  ab  |x  |  7|  1"
    assert _render("{{ ['a', 'b']|join(', ') }} {{ {'a': [1]}|tojson(indent=2) }}") == (
        'a, b {\n  "a": [\n    1\n  ]\n}'
    )
    assert _render("{{ 'a\nb'|indent(2, first=True) }}~{{ 'x' ~ 1 ~ none }}") == "  a\n  b~x1None"


# -- item 4: sandbox objects render by a fixed name ---------------------------------------------


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("{{ '%(x)s' % {'x': lipsum} }}", "<function lipsum>"),
        ("{{ lipsum }}", "<function lipsum>"),
        ("{{ [raise_exception, strftime_now, range] }}",
         "[<function raise_exception>, <function strftime_now>, <function range>]"),
        ("{{ cycler(1, 2) }} {{ joiner() }} {{ namespace }} {{ dict }}",
         "<cycler> <joiner> <class namespace> <class 'dict'>"),
        ("{{ 'x'.upper }}", "<method str.upper>"),
        ("{{ '{}'.format(messages.index) }}", "<method list.index>"),
        ("{{ messages|map(attribute='role') }} {{ messages|reverse }}", "<generator> <generator>"),
    ],
)
def test_sandbox_objects_render_by_a_fixed_name(template: str, text: str) -> None:
    assert _render(template) == text
    assert "0x" not in _render(template)


# -- item 3: template files that cannot be read ---------------------------------------------------


def test_invalid_utf8_is_a_template_error(tmp_path: Path) -> None:
    for name in ("chat.jinja", "tokenizer_config.json"):
        path = tmp_path / name
        path.write_bytes(b'{"chat_template": "\xff\xfe"}')
        with pytest.raises(TemplateError) as info:
            load_template(path)
        assert str(info.value) == (
            f"a chat template failed to load: {path}: not UTF-8 text ('utf-8' codec can't "
            "decode byte 0xff in position 19: invalid start byte)"
        )


def test_deeply_nested_config_is_a_template_error(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer_config.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert str(info.value) == (
        f"a chat template failed to load: {path}: JSON nested too deeply"
    )
    folder = tmp_path
    with pytest.raises(TemplateError, match="a chat template failed to load"):
        load_template(folder)


def test_invalid_json_is_a_template_error(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer_config.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert str(info.value) == (
        f"a chat template failed to load: {path}: not valid JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    )
    assert json  # the module is used for the cases above


def test_a_forked_child_starts_its_own_worker() -> None:
    import os

    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    assert _render("{{ 'parent' }}") == "parent"
    parent_worker = template_worker._WORKER
    pid = os.fork()
    if pid == 0:  # the child: its render must not use the parent's pipes
        ok = False
        try:
            ok = _render("{{ 'child' }}") == "child"
            ok = ok and template_worker._WORKER is not parent_worker
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _render("{{ 'parent again' }}") == "parent again"
    assert template_worker._WORKER is parent_worker
