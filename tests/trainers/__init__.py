"""Trainer-facing tests: each trainer's own loader (or a two-step run) on dialogkit's output.

Frameworks that pin their own torch/transformers stack live in their own virtual environments,
made by ``.ci/frameworks.sh`` (``.ci/venvs/<name>``); a test runs a probe script there and reads
its JSON answer. Nothing is downloaded at test time: tokenizers come from
``../shared/data/chat_templates/tokenizers/`` and models are tiny and random.
"""
