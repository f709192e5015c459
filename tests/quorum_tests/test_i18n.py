"""The worker's pages and messages in the browser's language (French shipped complete), and translations that
stay complete as the code changes."""

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests import factories

LOCALE = Path(settings.BASE_DIR) / "locale"
FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}


@pytest.fixture
def signed_in_worker(client, db):
    worker = factories.make_worker("amelie")
    client.force_login(worker)
    return worker


def test_the_work_page_follows_the_browsers_language(client, signed_in_worker):
    french = client.get("/work/", **FRENCH).content.decode()
    assert '<html lang="fr">' in french
    assert "En attente de travail…" in french
    assert "Gagné aujourd’hui" in french
    assert "USD 0,00" in french  # amounts in the language's number format
    assert "pas encore assez de réponses" in french
    english = client.get("/work/").content.decode()
    assert '<html lang="en">' in english
    assert "Waiting for work…" in english and "USD 0.00" in english


def test_every_worker_page_has_its_french(client, signed_in_worker):
    expected = {
        "/work/jobs/": "Projets sur lesquels travailler",
        "/work/statement/": "Votre relevé",
        "/login/": "Se connecter",
        "/signup/": "Créer un compte",
        "/password-reset/": "Réinitialiser votre mot de passe",
    }
    signed_in = {url: text for url, text in expected.items() if url.startswith("/work/")}
    for url, text in signed_in.items():
        assert text in client.get(url, **FRENCH).content.decode(), url
    client.logout()
    for url, text in expected.items():
        if url not in signed_in:
            assert text in client.get(url, **FRENCH).content.decode(), url


def test_a_language_chosen_on_the_page_outlives_the_browsers(client, signed_in_worker):
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/work/"})
    assert response.status_code == 302 and response["Location"] == "/work/"
    assert "En attente de travail…" in client.get("/work/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_browsers_strings_come_from_the_catalog_in_its_language(client):
    french = client.get("/jsi18n/?l=fr", **FRENCH)
    assert french.status_code == 200
    body = french.content.decode()
    assert '"Submit (Enter)": "Envoyer (Entr\\u00e9e)"' in body  # the catalog is a script: \\u escapes
    assert '"Your answer was not taken: %(reason)s."' in body
    assert "public" in french["Cache-Control"]
    assert "Envoyer" not in client.get("/jsi18n/?l=en").content.decode()


def test_messages_from_the_server_are_translated(client, db):
    factories.make_worker("amelie")
    refused = client.post("/signup/", {"username": "x", "password": "p", "email": "a@b.c", "role": "worker"}, **FRENCH)
    assert "utilisez 3 à 30 caractères (celui-ci en a 1)" in refused.content.decode()
    wrong = client.post("/login/", {"username": "amelie", "password": "wrong"}, **FRENCH)
    assert "Le nom d’utilisateur et le mot de passe ne correspondent pas." in wrong.content.decode()


def po_entries(path: Path) -> dict:
    """{(context, msgid): [msgstr, ...]} of a .po file (enough of the format for the files `make messages` writes)."""
    entries, current, field = {}, None, None

    def done():
        if current and current.get("msgid"):
            entries[(current.get("msgctxt"), current["msgid"])] = [
                v for k, v in sorted(current.items()) if k.startswith("msgstr")
            ]

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            done()
            current, field = None, None
            continue
        if line.startswith("#"):
            if current is None:
                current = {}
            if line.startswith("#,") and "fuzzy" in line:
                current["fuzzy"] = True
            continue
        current = {} if current is None else current
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d\])?) (".*")$', line)
        if match:
            field = match.group(1)
            current[field] = eval(match.group(2))  # noqa: S307 - a C string literal from our own file
        else:
            current[field] += eval(line)  # noqa: S307
    return entries


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_french_is_complete_and_compiled(domain):
    po = LOCALE / "fr" / "LC_MESSAGES" / f"{domain}.po"
    text = po.read_text(encoding="utf-8")
    assert "#, fuzzy" not in text.split("\n\n", 1)[1], "a fuzzy translation is not used: translate it"
    entries = po_entries(po)
    empty = [msgid for (ctx, msgid), strings in entries.items() if not all(strings)]
    assert not empty, f"untranslated in {po.name}: {empty}"
    # The compiled catalog (committed) says the same as the .po: `make messages` was run after the last edit.
    with open(po.with_suffix(".mo"), "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for (ctx, msgid), strings in entries.items():
        got = compiled.pgettext(ctx, msgid) if ctx else compiled.gettext(msgid)
        assert got == strings[0], f"{po.with_suffix('.mo').name} is older than {po.name} ({msgid!r}): run make messages"


@pytest.mark.skipif(not shutil.which("xgettext"), reason="GNU gettext is not installed")
def test_every_translatable_string_in_the_code_is_in_the_catalogs(tmp_path):
    """`make messages` on a copy of the code finds no string the committed catalogs lack."""
    root = Path(settings.BASE_DIR)
    copy = tmp_path / "quorum"
    skip = {".venv", ".git", "var", "staticfiles", "test-artifacts", "tests", "bench", "docs", "docker", "client"}
    shutil.copytree(root, copy, ignore=lambda d, names: [n for n in names if Path(d) == root and n in skip])
    for domain in ("django", "djangojs"):
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", "fr", "-d", domain, "--no-obsolete", "--ignore=.venv"],
            cwd=copy,
            check=True,
            capture_output=True,
        )
        fresh = po_entries(copy / "locale" / "fr" / "LC_MESSAGES" / f"{domain}.po")
        committed = po_entries(LOCALE / "fr" / "LC_MESSAGES" / f"{domain}.po")
        assert set(fresh) == set(committed), (
            f"{domain}: strings missing from the catalog: {sorted(m for _, m in set(fresh) - set(committed))}; "
            f"no longer used: {sorted(m for _, m in set(committed) - set(fresh))}. Run make messages and translate."
        )
