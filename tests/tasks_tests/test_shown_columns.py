"""A job names the columns its workers see: the API takes them and says what is wrong with a bad list."""

import pytest

JOB = {
    "name": "Sentiment",
    "question": "Is it positive?",
    "question_type": "single_choice",
    "options": ["pos", "neg"],
    "text_field": "text",
}


@pytest.mark.django_db
def test_a_job_names_further_columns_shown_to_workers(requester_api):
    body = requester_api.post("/api/jobs/", {**JOB, "shown_fields": ["title", "text", "title"]}, format="json").json()
    assert body["shown_fields"] == ["title", "text"]
    assert requester_api.post("/api/jobs/", JOB, format="json").json()["shown_fields"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["title", [1], [""], ["x" * 201]])
def test_a_bad_list_of_shown_columns_is_a_field_error(requester_api, value):
    response = requester_api.post("/api/jobs/", {**JOB, "shown_fields": value}, format="json")
    assert response.status_code == 400
    assert "shown_fields" in response.json()
