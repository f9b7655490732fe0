from __future__ import annotations

from orchestrator.compiled_cache import CompiledCache


def test_each_text_is_built_once_and_the_oldest_entry_goes_first() -> None:
    built: list[str] = []

    def build(text: str) -> str:
        built.append(text)
        return text.upper()

    cache: CompiledCache[str] = CompiledCache(build, size=2)
    assert [cache.get("a"), cache.get("a"), cache.get("b")] == ["A", "A", "B"]
    assert built == ["a", "b"]
    cache.get("c")  # evicts "a", the oldest
    cache.get("a")
    assert built == ["a", "b", "c", "a"]
