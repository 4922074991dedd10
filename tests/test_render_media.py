"""Conversations with images and video render as transformers' apply_chat_template renders the
vision-language templates (a test-only oracle, offline), assistant masks included."""

from __future__ import annotations

import os
import warnings
from typing import Any

import pytest

from dialogkit.models import Conversation, MediaPart, Message, TextPart
from dialogkit.rendering import ChatTemplate, load_tokenizer, message_dicts, render_conversation
from tests.conftest import shared_file

PHI3 = ("chat_templates", "tokenizers", "phi-3-mini")


@pytest.fixture(scope="module")
def oracle() -> Any:
    """transformers' Phi-3 tokenizer, loaded offline (skips if transformers is not installed)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transformers = pytest.importorskip("transformers")
        return transformers.AutoTokenizer.from_pretrained(str(shared_file(*PHI3)))


@pytest.fixture(scope="module")
def phi3() -> Any:
    return load_tokenizer(shared_file(*PHI3))


def _template(name: str) -> str:
    return shared_file("chat_templates", *name.split("/")).read_text(encoding="utf-8")

VLM = ["qwen2.5-vl.jinja", "qwen3-vl.jinja", "llava-v1.6-mistral.jinja", "idefics3.jinja"]
VLM_GEN = ["generation/trl-llava_next_training.jinja", "generation/trl-qwen2_5_vl_training.jinja",
           "generation/trl-qwen3_vl_training.jinja", "generation/trl-idefics3_training.jinja"]


def _img(ref: str) -> MediaPart:
    return MediaPart(type="image", path=ref)


CONVERSATIONS: dict[str, Conversation] = {
    "two_images": Conversation(messages=[
        Message(role="user", content=[_img("/d/1.jpg"), TextPart(text="Who are they?")]),
        Message(role="assistant", content="Kane and Gretzka."),
        Message(role="user", content=[TextPart(text="What are they doing?"), _img("/d/1.jpg")]),
        Message(role="assistant", content="Celebrating."),
    ]),
    "system_and_url": Conversation(messages=[
        Message(role="system", content="Be brief."),
        Message(role="user", content=[MediaPart(type="image", url="https://x/cat.png"),
                                      TextPart(text="What is it?")]),
        Message(role="assistant", content=[TextPart(text="A cat.")]),
    ]),
    "video": Conversation(messages=[
        Message(role="user", content=[MediaPart(type="video", path="/d/4.mp4"),
                                      TextPart(text="What happens?")]),
        Message(role="assistant", content="A girl draws."),
    ]),
}


def _both(ref_tok: Any, tok: Any, conv: Conversation, src: str, **kw: Any) -> tuple[Any, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = ref_tok.apply_chat_template(message_dicts(conv.messages), chat_template=src,
                                             tokenize=False, **kw)
    except Exception as exc:  # transformers refuses: so must we
        ref = exc
    try:
        ours: Any = render_conversation(conv, ChatTemplate({"default": src}, tok.special_tokens),
                                        spans=False, **kw).text
    except Exception as exc:
        ours = exc
    return ref, ours


@pytest.mark.parametrize("name", VLM + VLM_GEN)
def test_vision_templates_render_like_transformers(oracle: Any, phi3: Any, name: str) -> None:
    src = _template(name)
    rendered = 0
    for cname, conv in CONVERSATIONS.items():
        for agp in (False, True):
            ref, ours = _both(oracle, phi3, conv, src, add_generation_prompt=agp)
            if isinstance(ref, Exception):
                assert isinstance(ours, Exception), (cname, ref)
                continue
            assert ours == ref, (cname, agp)
            rendered += 1
    assert rendered >= 4  # the image conversations render on every VLM template


def test_image_placeholders_are_in_the_text(phi3: Any) -> None:
    tpl = ChatTemplate({"default": _template("qwen2.5-vl.jinja")}, phi3.special_tokens)
    text = render_conversation(CONVERSATIONS["two_images"], tpl, spans=False).text
    assert text.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    assert message_dicts(CONVERSATIONS["two_images"].messages)[1] == {
        "role": "assistant", "content": [{"type": "text", "text": "Kane and Gretzka."}]}


@pytest.mark.parametrize("name", VLM_GEN)
def test_vision_training_templates_masks_match(oracle: Any, phi3: Any, name: str) -> None:
    src = _template(name)
    checked = 0
    for conv in CONVERSATIONS.values():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = oracle.apply_chat_template(
                    message_dicts(conv.messages), chat_template=src, return_dict=True,
                    return_assistant_tokens_mask=True)
        except Exception:
            continue
        out = render_conversation(conv, ChatTemplate({"default": src}, phi3.special_tokens),
                                  tokenizer=phi3)
        assert out.input_ids == ref["input_ids"]
        assert out.assistant_masks == ref["assistant_masks"]
        assert any(out.assistant_masks)
        checked += 1
    assert checked >= 2


def test_check_template_reports_a_template_that_drops_images(phi3: Any) -> None:
    from dialogkit.template_check import check_conversation

    conv = CONVERSATIONS["two_images"]
    text_only = ChatTemplate({"default": "{% for m in messages %}{% for p in m.content %}"
                                         "{% if p.type == 'text' %}{{ p.text }}{% endif %}"
                                         "{% endfor %}{% endfor %}"}, {})
    problems = dict(check_conversation(conv, text_only))
    assert problems["media dropped"] == "2 media parts leave no trace in the rendering"
    vlm = ChatTemplate({"default": _template("qwen2.5-vl.jinja")}, phi3.special_tokens)
    assert "media dropped" not in dict(check_conversation(conv, vlm))
    think = ChatTemplate({"default": _template("qwen3.jinja")}, phi3.special_tokens)
    reasoning = Conversation(messages=[Message(role="user", content="Why?"),
                                       Message(role="assistant", content="Because.",
                                               reasoning="Think."),
                                       Message(role="user", content="And?"),
                                       Message(role="assistant", content="So.")])
    assert dict(check_conversation(reasoning, think))["reasoning stripped"] == (
        "messages[1] (assistant): Think.")
