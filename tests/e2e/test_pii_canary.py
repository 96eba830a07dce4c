"""PII canaries planted in the company file never reach the public table or any log."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import SAMPLE
from thera_local.emulator import aws_client
from thera_local.stack import StackInfo

EMAIL = "maria.canary@example-startup.com"
PHONE = "+55 (81) 99876-5432"
COMPANY_PHONE = "+1 415 555 0100"
# Pieces of the canaries that a partial leak would show. A digit run counts where it stands alone
# (not inside a longer number or a hex id): a timestamp's microseconds or a request id can hold
# "5432" by chance, a leaked "99876-5432" cannot hide it.
CANARIES = [
    *(re.escape(text) for text in (EMAIL, "maria.canary", "555 0100")),
    *(rf"(?<![0-9A-Za-z]){digits}(?![0-9A-Za-z])" for digits in ("99876", "5432", "4150100")),
]


def leaked(text: str) -> list[str]:
    return [c for c in CANARIES if re.search(c, text)]


def test_canaries_stay_out_of_public_rows_and_logs_and_reach_private_rows_masked(make_cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "canary.jsonl"
    lines = SAMPLE.read_text().splitlines()[:30]
    with data.open("w") as fh:
        for line in lines:
            company = json.loads(line)
            company["long_description"] = f"{company['long_description']} Talk to {EMAIL} or call {PHONE}."
            company["phone"] = COMPANY_PHONE
            fh.write(json.dumps(company) + "\n")
    cli = make_cli()
    done = cli.run("run", "daily", "--data", str(data))
    info = StackInfo.read(cli.home)
    assert info is not None
    template = info.template_obj()
    ddb = aws_client("dynamodb", info.endpoint)
    public = ddb.scan(TableName=template.physical("PublicStartupsTable"))["Items"]
    private = ddb.scan(TableName=template.physical("PrivateStartupsTable"))["Items"]
    assert len(public) == len(private) >= 25
    assert not leaked(json.dumps(public))
    logs = "".join(p.read_text() for p in (cli.home / "logs").glob("*.log")) + done.stdout + done.stderr
    assert "gold part published" in logs  # the logs are the pipeline's, not empty
    assert not leaked(logs)
    masked = {v["S"] for row in private for v in row.get("phones", {"L": []})["L"]}
    assert "+1 ******0100" in masked  # the company's phone, masked, in the private table only
    emails = {v["S"] for row in private for v in row.get("emails", {"L": []})["L"]}
    assert "m***********@example-startup.com" in emails
    # the canary did go in: the raw landing keeps what the source said
    s3 = aws_client("s3", info.endpoint)
    bucket = template.physical("DataLakeBucket")
    raw_key = s3.list_objects_v2(Bucket=bucket, Prefix="raw/apollo/")["Contents"][0]["Key"]
    assert EMAIL in gzip.decompress(s3.get_object(Bucket=bucket, Key=raw_key)["Body"].read()).decode()
