from locus.importers.models import describe_models, model_family, parameter_count_b


def test_family_and_size_from_real_ids():
    assert model_family("Meta-Llama-3_1-70B-Instruct") == "llama"
    assert model_family("Mixtral-8x7B-Instruct-v0.1") == "mixtral"
    assert model_family("acme-foo") == "acme"
    assert parameter_count_b("Meta-Llama-3_1-70B-Instruct") == 70.0
    assert parameter_count_b("Mixtral-8x7B-v0.1") == 56.0
    assert parameter_count_b("Qwen/Qwen2.5-1.5B") == 1.5
    assert parameter_count_b("gemini-1.5-pro-002") is None
    assert parameter_count_b("Mistral-7B-Instruct-v0.2") == 7.0


def test_describe_models_is_a_models_table():
    table = describe_models(["b", "a", "b"])
    assert table.column("model_id").to_pylist() == ["a", "b"]
    assert table.column("available").to_pylist() == [True, True]
