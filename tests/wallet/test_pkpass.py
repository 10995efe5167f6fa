import hashlib
import io
import json
import subprocess
import zipfile
from datetime import timedelta

from tests.wallet.conftest import NOW, PASS_TYPE_ID, TEAM_ID
from wallet.apple.pkpass import AppleSettings, build_pkpass, pass_json
from wallet.content import Coupon, LoyaltyCard

SETTINGS = AppleSettings(PASS_TYPE_ID, TEAM_ID, "Tienda Demo", "https://shop.example/passkit")
CARD = LoyaltyCard("LABCDEFGHJKLM", "EP1:AAAA", "Lucía Núñez", "2900000013087", "gold", 1234)
TOKEN = "t" * 24


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_loyalty_pkpass_has_apples_layout_and_manifest_hashes(apple_identity):
    files = unzip(build_pkpass(pass_json(CARD, SETTINGS, TOKEN), apple_identity))
    assert set(files) == {
        "pass.json",
        "manifest.json",
        "signature",
        "icon.png",
        "icon@2x.png",
        "logo.png",
        "logo@2x.png",
        "en.lproj/pass.strings",
        "es.lproj/pass.strings",
    }
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert hashlib.sha1(files[name]).hexdigest() == digest
    assert files["icon.png"].startswith(b"\x89PNG")


def test_store_card_fields_barcode_and_web_service(apple_identity):
    files = unzip(build_pkpass(pass_json(CARD, SETTINGS, TOKEN), apple_identity))
    doc = json.loads(files["pass.json"])
    assert doc["passTypeIdentifier"] == PASS_TYPE_ID
    assert doc["teamIdentifier"] == TEAM_ID
    assert doc["serialNumber"] == CARD.serial
    assert doc["barcodes"][0] == {
        "format": "PKBarcodeFormatQR",
        "message": "EP1:AAAA",
        "messageEncoding": "iso-8859-1",
    }
    card = doc["storeCard"]
    assert card["primaryFields"][0]["value"] == 1234
    assert card["primaryFields"][0]["changeMessage"] == "change.points"
    assert card["auxiliaryFields"][0]["value"] == "tier.gold"
    assert card["secondaryFields"][0]["value"] == "Lucía Núñez"
    assert card["backFields"][0]["value"] == "2900000013087"
    assert doc["webServiceURL"] == "https://shop.example/passkit"
    assert doc["authenticationToken"] == TOKEN


def test_coupon_pass_has_offer_and_expiry(apple_identity):
    expires = NOW + timedelta(days=7)
    coupon = Coupon("CABCDEFGHJKLM", "EP1:BBBB", "-20 % en vestidos", expires, "Una vez")
    files = unzip(build_pkpass(pass_json(coupon, SETTINGS, None), apple_identity))
    doc = json.loads(files["pass.json"])
    assert doc["coupon"]["primaryFields"][0]["value"] == "-20 % en vestidos"
    assert doc["expirationDate"] == "2026-12-01T09:00:00Z"
    assert "webServiceURL" not in doc


def test_labels_are_localised_in_spanish_and_english(apple_identity):
    files = unzip(build_pkpass(pass_json(CARD, SETTINGS, TOKEN), apple_identity))
    spanish = files["es.lproj/pass.strings"].decode("utf-16")
    english = files["en.lproj/pass.strings"].decode("utf-16")
    assert '"points" = "Puntos";' in spanish
    assert '"tier.gold" = "Oro";' in spanish
    assert '"points" = "Points";' in english
    assert '"change.points" = "Ahora tienes %@ puntos";' in spanish


def test_signature_verifies_with_openssl_as_detached_binary_cms(
    apple_identity, apple_credentials, tmp_path
):
    files = unzip(build_pkpass(pass_json(CARD, SETTINGS, TOKEN), apple_identity))
    for name in ("signature", "manifest.json"):
        (tmp_path / name).write_bytes(files[name])
    (tmp_path / "wwdr.pem").write_bytes(apple_credentials.wwdr_cert_pem)
    verified = subprocess.run(
        [
            "openssl", "cms", "-verify", "-binary", "-inform", "DER",
            "-in", str(tmp_path / "signature"),
            "-content", str(tmp_path / "manifest.json"),
            "-CAfile", str(tmp_path / "wwdr.pem"),
            "-purpose", "any", "-out", "/dev/null",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert "Verification successful" in verified.stderr
    # To a file, not a pipe: read from a pipe, the print once came back empty under load.
    subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER",
         "-in", str(tmp_path / "signature"), "-out", str(tmp_path / "printed.txt")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    printed = (tmp_path / "printed.txt").read_text()
    assert "signingTime" in printed
    assert "Test WWDR stand-in" in printed  # the intermediate travels with the signature
    assert "eContent: <ABSENT>" in printed  # detached


def test_changed_manifest_fails_openssl_verification(apple_identity, apple_credentials, tmp_path):
    files = unzip(build_pkpass(pass_json(CARD, SETTINGS, TOKEN), apple_identity))
    (tmp_path / "signature").write_bytes(files["signature"])
    (tmp_path / "manifest.json").write_bytes(files["manifest.json"].replace(b"{", b"{ ", 1))
    (tmp_path / "wwdr.pem").write_bytes(apple_credentials.wwdr_cert_pem)
    verified = subprocess.run(
        [
            "openssl", "cms", "-verify", "-binary", "-inform", "DER",
            "-in", str(tmp_path / "signature"),
            "-content", str(tmp_path / "manifest.json"),
            "-CAfile", str(tmp_path / "wwdr.pem"), "-purpose", "any", "-out", "/dev/null",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode != 0
