import pytest

from polex.domain.scripts import detect_script


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("Jean-Luc Mélenchon", "Latn"),
        ("Олександр Шевченко", "Cyrl"),
        ("Γιώργος Παπαδόπουλος", "Grek"),
        ("محمد عبد الله", "Arab"),
        ("דוד כהן", "Hebr"),
        ("राहुल शर्मा", "Deva"),
        ("王小明", "Hani"),
        ("山田 たろう", "Jpan"),
        ("김민준", "Hang"),
        ("12345", "Zzzz"),
        ("Ivan Иванов", "Zzzz"),
    ],
)
def test_scripts_are_detected_as_iso_15924(text: str, script: str) -> None:
    assert detect_script(text) == script


@pytest.mark.parametrize(
    ("text", "script"), [("ヤマダ", "Kana"), ("やまだ", "Hira"), ("ヤマダ たろう", "Hrkt"), ("山田", "Hani")]
)
def test_kana_alone_are_not_japanese_mixed_script(text: str, script: str) -> None:
    assert detect_script(text) == script
