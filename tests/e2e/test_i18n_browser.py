"""A French-speaking worker's browser gets the worker's pages in French, from its language alone, and can switch."""

import re

import pytest
from playwright.sync_api import expect

from tasks import services
from tests import factories

from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_french_browser_gets_the_worker_pages_in_french(new_page):
    job = factories.make_job(owner=factories.make_requester(), name="Fruits", redundancy=1, reward="0.05")
    factories.ingest_now(
        job, factories.csv_bytes([{"id": f"f{i}", "text": f"Une pomme {i}", "gold": ""} for i in range(2)])
    )
    job.refresh_from_db()
    services.job_publish(job)
    factories.make_worker("amelie")

    page = new_page(locale="fr-FR")
    page.goto("/login/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Se connecter")).to_be_visible()
    page.get_by_label("Nom d’utilisateur").fill("amelie")
    page.get_by_label("Mot de passe").fill("wrong password")
    page.get_by_role("button", name="Se connecter").click()
    # Django's own messages come in French too.
    expect(page.get_by_role("alert")).to_contain_text("Le nom d’utilisateur et le mot de passe ne correspondent pas")
    page.get_by_label("Nom d’utilisateur").fill("amelie")
    page.get_by_label("Mot de passe").fill(factories.PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()

    page.goto("/work/jobs/")
    expect(page.get_by_role("heading", name="Projets sur lesquels travailler")).to_be_visible()
    expect(page.locator("#job-board")).to_contain_text("USD 0,05")
    page.get_by_role("link", name="Travailler sur Fruits").click()

    # The page's strings (templates) and the script's (the /jsi18n/ catalog).
    expect(page.locator("#conn-state")).to_have_text("Connecté", timeout=15_000)
    expect(page.locator("#task")).to_contain_text("Une pomme", timeout=15_000)
    expect(page.get_by_role("button", name="Envoyer (Entrée)")).to_be_visible()
    expect(page.get_by_role("button", name="Passer (S)")).to_be_visible()
    expect(page.locator("#lease-timer")).to_have_text(re.compile(r"^reste \d+:\d\d$"))
    expect(page.locator("#first-instructions")).to_contain_text("Consignes")
    page.keyboard.press("Enter")
    expect(page.locator("#task-notice")).to_have_text("Choisissez d’abord une réponse.")
    screenshot(page, "work-fr")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#w-answers")).to_have_text("1", timeout=15_000)
    expect(page.locator("#history")).to_contain_text("Envoyée")

    page.goto("/work/statement/")
    expect(page.get_by_role("heading", name="Votre relevé")).to_be_visible()

    # The language can be chosen on the page; the choice outlives the browser's.
    page.get_by_label("Langue").select_option("en")
    page.get_by_role("button", name="Changer").click()
    expect(page.get_by_role("heading", name="Your statement")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/work/")
    expect(page.locator("#conn-state")).to_have_text("Connected", timeout=15_000)
