from polex.api.problems import _field_path


def test_field_paths_name_what_the_client_sent() -> None:
    assert _field_path(("body", "names", 0, "full")) == "names.0.full"
    assert _field_path(("query", "limit")) == "limit"
    assert _field_path(("header", "if-match")) == "if-match"
    assert _field_path(("body",)) == "body"
