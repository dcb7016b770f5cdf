"""The SAM template lints clean as written and after the SAM transform, and has the shape lakehook needs.

cfn-lint alone misses SAM-only errors (a bogus ``FunctionUrlConfig.AuthType`` passes it), so the
template also goes through aws-sam-translator — offline: no IAM call for managed policies, no
credentials — and cfn-lint runs again on the CloudFormation it produces. The table is compared with
the store's own schema module, so a key, index or TTL drift between the two fails here.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.decode.decode import decode_str
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

from lambda_resolver.stores import dynamodb_schema as schema

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "lambda_resolver" / "template.yaml"
REGION = "us-east-1"
S3_CODE = "s3://lakehook-artifacts/lakehook-lambda.zip"  # what `sam package` puts in CodeUri

SECRET_PARAMETERS = {
    "LAKEHOOK_SIGNING_KEYS_SECRET": "SigningKeysSecretArn",
    "LAKEHOOK_DATABRICKS_SECRET": "DatabricksCredentialsSecretArn",
    "LAKEHOOK_WEBHOOK_SECRET": "WebhookCredentialsSecretArn",
    "LAKEHOOK_OPERATOR_KEY_SECRET": "OperatorKeySecretArn",
    "LAKEHOOK_NOTIFY_RECEIVERS_SECRET": "NotifyReceiversSecretArn",
}
ENVIRONMENT = {
    "LAKEHOOK_TABLE",
    *SECRET_PARAMETERS,
    "DATABRICKS_HOST",
    "LAKEHOOK_RESONATE_COMPAT",
    "LAKEHOOK_CALLBACK_URL",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "LOG_LEVEL",
}
TABLE_ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
}


# --- loading, linting, transforming ---------------------------------------------------------------


def load(text: str) -> dict[str, Any]:
    """The template as plain dicts; cfn-lint's loader understands the short intrinsics (!Ref, !Sub)."""
    template, matches = decode_str(text)
    assert not matches, [m.message for m in matches or []]
    assert template is not None
    plain: dict[str, Any] = json.loads(json.dumps(template))
    return plain


def lint_errors(template: str | dict[str, Any]) -> list[str]:
    """Every cfn-lint error and warning (informational rules are off), one readable line each."""
    text = template if isinstance(template, str) else json.dumps(template)
    return [
        f"{m.rule.id} {m.message} at {'/'.join(map(str, m.path or []))}" for m in lint(text, regions=[REGION])
    ]


class OfflinePolicies:
    """The transform's managed-policy loader. The template names no managed policy (the role is
    written out), so the transform must never need one; asking IAM would fail offline anyway."""

    def load(self) -> dict[str, str]:
        raise AssertionError("the SAM transform asked IAM for the managed policy list")


def sam_transform(template: dict[str, Any]) -> dict[str, Any]:
    """What CloudFormation's SAM transform produces, after `sam package` replaced local CodeUris."""
    packaged = copy.deepcopy(template)
    for resource in packaged["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and not str(props.get("CodeUri")).startswith(
            "s3://"
        ):
            props["CodeUri"] = S3_CODE
    with pytest.MonkeyPatch.context() as mp:  # the transform reads the region from a boto3 session
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        return transform(packaged, {}, OfflinePolicies())


@pytest.fixture(scope="module")
def text() -> str:
    return TEMPLATE.read_text()


@pytest.fixture(scope="module")
def sam(text: str) -> dict[str, Any]:
    return load(text)


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> dict[str, Any]:
    return sam_transform(sam)


# --- small helpers over the template ----------------------------------------------------------------


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    found = of_type(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))


def branches(node: Any) -> Iterator[Any]:
    """``node`` itself, or both branches of an ``Fn::If`` (``AWS::NoValue`` dropped)."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        for branch in node["Fn::If"][1:]:
            yield from branches(branch)
    elif node != {"Ref": "AWS::NoValue"}:
        yield node


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_documents(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, role in of_type(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            yield f"{name}/{policy['PolicyName']}", policy["PolicyDocument"]
    for name, policy in of_type(template, "AWS::IAM::ManagedPolicy").items():
        yield name, policy["Properties"]["PolicyDocument"]


def statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, document in policy_documents(template):
        for statement in as_list(document["Statement"]):
            for branch in branches(statement):
                yield where, branch


# --- the checks, as functions returning problems, so broken copies can prove they bite -------------


def table_problems(template: dict[str, Any]) -> list[str]:
    """How the template's table differs from ``dynamodb_schema`` (and from retained, encrypted, PITR)."""
    table = one(template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    want = schema.table_definition("ignored")
    problems = []
    for key in ("BillingMode", "KeySchema"):
        if props.get(key) != want[key]:
            problems.append(f"{key}: template {props.get(key)} != store schema {want[key]}")
    got_attrs = sorted(props.get("AttributeDefinitions", []), key=lambda a: a["AttributeName"])
    want_attrs = sorted(want["AttributeDefinitions"], key=lambda a: a["AttributeName"])
    if got_attrs != want_attrs:
        problems.append(f"AttributeDefinitions: template {got_attrs} != store schema {want_attrs}")
    got_gsis = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
    want_gsis = {g["IndexName"]: g for g in want["GlobalSecondaryIndexes"]}
    for name in sorted(got_gsis.keys() | want_gsis.keys()):
        if got_gsis.get(name) != want_gsis.get(name):
            problems.append(
                f"GSI {name!r}: template {got_gsis.get(name)} != store schema {want_gsis.get(name)}"
            )
    ttl = {"AttributeName": schema.TTL_ATTR, "Enabled": True}
    if props.get("TimeToLiveSpecification") != ttl:
        problems.append(f"TimeToLiveSpecification: {props.get('TimeToLiveSpecification')} != {ttl}")
    if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True:
        problems.append("point-in-time recovery is not on")
    if props.get("SSESpecification", {}).get("SSEEnabled") is not True:
        problems.append("SSE with KMS is not on")
    for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
        if table.get(policy) != "Retain":
            problems.append(f"{policy} is {table.get(policy)!r}, not 'Retain'")
    return problems


def iam_problems(template: dict[str, Any]) -> list[str]:
    """Wildcards, scans, deletes, and grants beyond the table, its indexes and the named secrets."""
    table_ref = {"Fn::GetAtt": ["Table", "Arn"]}
    index_refs = [
        {"Fn::Sub": f"${{Table.Arn}}/index/{g['IndexName']}"}
        for g in schema.table_definition("x")["GlobalSecondaryIndexes"]
    ]
    secret_refs = [{"Ref": p} for p in SECRET_PARAMETERS.values()]
    problems = []
    for name, role in of_type(template, "AWS::IAM::Role").items():
        if role["Properties"].get("ManagedPolicyArns"):
            problems.append(f"{name} attaches managed policies {role['Properties']['ManagedPolicyArns']}")
    for where, st in statements(template):
        actions = as_list(st.get("Action", []))
        resources = as_list(st.get("Resource", []))
        sid = f"{where}/{st.get('Sid', '?')}"
        if st.get("Effect") != "Allow" or "NotAction" in st or "NotResource" in st:
            problems.append(f"{sid}: only plain Allow statements are expected")
        for resource in resources:
            if "*" in json.dumps(resource):  # literal, or inside a Fn::Sub / Fn::Join
                problems.append(f"{sid}: wildcard resource {resource!r}")
        for action in actions:
            if "*" in action:
                problems.append(f"{sid}: wildcard action {action!r}")
            service, _, verb = action.partition(":")
            if service == "dynamodb":
                if verb == "Scan" or verb.startswith("Delete") or verb.endswith("Table"):
                    problems.append(f"{sid}: {action} is not needed by the store")
                if action not in TABLE_ITEM_ACTIONS:
                    problems.append(f"{sid}: unexpected {action}")
                allowed = [table_ref, *index_refs] if verb == "Query" else [table_ref]
                problems += [f"{sid}: {action} on {r}" for r in resources if r not in allowed]
            if service == "secretsmanager":
                if action != "secretsmanager:GetSecretValue":
                    problems.append(f"{sid}: unexpected {action}")
                problems += [
                    f"{sid}: {action} on {r}, not a secret ARN parameter"
                    for r in resources
                    if r not in secret_refs
                ]
    return problems


def function_problems(template: dict[str, Any]) -> list[str]:
    """The resolver function as deployed: runtime, architecture, SnapStart on the `live` alias."""
    function = one(template, "AWS::Lambda::Function")["Properties"]
    problems = []
    runtime = re.fullmatch(r"python3\.(\d+)", str(function.get("Runtime")))
    if runtime is None or int(runtime.group(1)) < 12:
        problems.append(f"runtime {function.get('Runtime')!r}: SnapStart needs python3.12 or later")
    if function.get("Architectures") != ["arm64"]:
        problems.append(f"architectures {function.get('Architectures')}")
    if function.get("SnapStart") != {"ApplyOn": "PublishedVersions"}:
        problems.append(f"SnapStart {function.get('SnapStart')}")
    if function.get("Handler") != "lambda_resolver.aws.handler.handler":
        problems.append(f"handler {function.get('Handler')!r}")
    alias = one(template, "AWS::Lambda::Alias")["Properties"]
    if alias.get("Name") != "live":
        problems.append(f"alias {alias.get('Name')!r}")
    return problems


# --- lint -----------------------------------------------------------------------------------------------


def test_template_lints_clean_as_written(text: str) -> None:
    assert lint_errors(text) == []


def test_template_lints_clean_after_the_sam_transform(cfn: dict[str, Any]) -> None:
    assert lint_errors(cfn) == []


def test_no_lint_rule_is_silenced(sam: dict[str, Any]) -> None:
    # An ignored rule would need a reason next to it; today there is none to give.
    assert sam["Metadata"]["cfn-lint"]["config"]["ignore_checks"] == []


# --- shape ------------------------------------------------------------------------------------------


def test_the_table_is_the_stores_schema(cfn: dict[str, Any]) -> None:
    assert table_problems(cfn) == []


def test_the_role_is_least_privilege(cfn: dict[str, Any]) -> None:
    assert iam_problems(cfn) == []


def test_the_role_reaches_every_index_and_every_secret(cfn: dict[str, Any]) -> None:
    granted = [r for _, st in statements(cfn) for r in as_list(st.get("Resource", []))]
    for index in (schema.DUE_INDEX, schema.DBX_INDEX, schema.RUNS_INDEX):
        assert {"Fn::Sub": f"${{Table.Arn}}/index/{index}"} in granted
    for parameter in SECRET_PARAMETERS.values():
        assert {"Ref": parameter} in granted


def test_the_function_runs_python_312_on_arm_with_snapstart(cfn: dict[str, Any]) -> None:
    assert function_problems(cfn) == []
    function = one(cfn, "AWS::Lambda::Function")["Properties"]
    assert (function["MemorySize"], function["Timeout"]) == (512, 30)
    assert len(of_type(cfn, "AWS::Lambda::Version")) == 1


def test_the_url_keeps_the_logical_ids_sam_gave_it_so_an_update_keeps_the_url(cfn: dict[str, Any]) -> None:
    public = {
        "ResolverFunctionUrl",
        "ResolverFunctionUrlPublicPermissions",
        "ResolverFunctionURLInvokeAllowPublicAccess",
    }
    assert public <= set(cfn["Resources"])


def test_the_function_url_is_public_and_serves_the_alias(cfn: dict[str, Any]) -> None:
    url = one(cfn, "AWS::Lambda::Url")["Properties"]
    assert url["AuthType"] == "NONE"  # authentication is in the app: promise tokens, operator key, Basic
    assert url["TargetFunctionArn"] == {"Ref": next(iter(of_type(cfn, "AWS::Lambda::Alias")))}


def test_strangers_can_call_the_url_but_not_invoke_the_function(cfn: dict[str, Any]) -> None:
    # The operator door is a direct invoke authorised by IAM; a public grant of lambda:InvokeFunction
    # without InvokedViaFunctionUrl would open it to every AWS account.
    public = [
        p["Properties"]
        for p in of_type(cfn, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "*"
    ]
    by_action = {p["Action"]: p for p in public}
    assert len(public) == len(by_action) == 2
    assert by_action["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert by_action["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True


def test_the_reconciler_runs_every_minute_by_default(sam: dict[str, Any], cfn: dict[str, Any]) -> None:
    assert sam["Parameters"]["ReconcileSchedule"]["Default"] == "rate(1 minute)"
    rule = one(cfn, "AWS::Events::Rule")["Properties"]
    assert rule["ScheduleExpression"] == {"Ref": "ReconcileSchedule"}
    assert rule["State"] == "ENABLED"
    alias = {"Ref": next(iter(of_type(cfn, "AWS::Lambda::Alias")))}
    assert [t["Arn"] for t in rule["Targets"]] == [alias]
    grants = [p["Properties"] for p in of_type(cfn, "AWS::Lambda::Permission").values()]
    assert any(g["Principal"] == "events.amazonaws.com" and g["FunctionName"] == alias for g in grants)


def test_secrets_are_passed_by_arn_parameter(sam: dict[str, Any], cfn: dict[str, Any]) -> None:
    env = one(cfn, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert set(env) == ENVIRONMENT
    assert env["LAKEHOOK_TABLE"] == {"Ref": "Table"}
    for variable, parameter in SECRET_PARAMETERS.items():
        assert env[variable] == {"Ref": parameter}
        pattern = sam["Parameters"][parameter]["AllowedPattern"]
        arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lakehook/signing-AbC123"
        assert re.fullmatch(pattern, arn), parameter
        assert not re.fullmatch(pattern, "lakehook/signing"), f"{parameter} accepts a bare secret name"
    assert "Default" not in sam["Parameters"]["SigningKeysSecretArn"]
    assert sam["Parameters"]["OperatorKeySecretArn"]["Default"] == ""  # optional


def test_resonate_compat_is_off_unless_asked(sam: dict[str, Any], cfn: dict[str, Any]) -> None:
    assert sam["Parameters"]["ResonateCompat"]["Default"] == "false"
    env = one(cfn, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert env["LAKEHOOK_RESONATE_COMPAT"] == {"Fn::If": ["ResonateCompatOn", "1", "0"]}


def test_outputs_give_operators_what_they_need(cfn: dict[str, Any]) -> None:
    outputs = cfn["Outputs"]
    alias = {"Ref": next(iter(of_type(cfn, "AWS::Lambda::Alias")))}
    assert outputs["FunctionUrl"]["Value"] == {"Fn::GetAtt": ["ResolverFunctionUrl", "FunctionUrl"]}
    assert outputs["FunctionArn"]["Value"] == alias
    assert outputs["TableName"]["Value"] == {"Ref": "Table"}
    policy = cfn["Resources"][outputs["OperatorPolicyArn"]["Value"]["Ref"]]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("lambda:InvokeFunction", alias)


def test_code_uri_is_the_zip_the_build_script_writes(sam: dict[str, Any]) -> None:
    spec = importlib.util.spec_from_file_location("build_lambda", ROOT / "scripts" / "build_lambda.py")
    assert spec is not None and spec.loader is not None
    build_lambda = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_lambda)
    code_uri = sam["Resources"]["ResolverFunction"]["Properties"]["CodeUri"]
    assert (TEMPLATE.parent / code_uri).resolve() == build_lambda.ZIP_PATH.resolve()


def test_the_handler_reads_every_variable_the_template_sets(cfn: dict[str, Any]) -> None:
    aws_dir = ROOT / "lambda_resolver" / "aws"
    if not (aws_dir / "handler.py").exists():
        pytest.skip("lambda_resolver/aws/handler.py is not written yet")
    source = "\n".join(p.read_text() for p in (ROOT / "lambda_resolver").rglob("*.py"))
    ours = {v for v in ENVIRONMENT if not v.startswith("POWERTOOLS_") and v != "LOG_LEVEL"}
    assert {v for v in ours if v not in source} == set()


# --- broken copies fail, with a message that says why ---------------------------------------------


def broken(sam: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(sam)


def test_a_bogus_url_auth_type_fails_the_lint(sam: dict[str, Any]) -> None:
    bad = broken(sam)
    bad["Resources"]["ResolverFunctionUrl"]["Properties"]["AuthType"] = "BOGUS"
    errors = lint_errors(sam_transform(bad))
    assert errors and all("AuthType" in e or "BOGUS" in e for e in errors), errors


def test_a_bogus_sam_property_fails_the_transform(sam: dict[str, Any]) -> None:
    bad = broken(sam)
    bad["Resources"]["ResolverFunction"]["Properties"]["FunctionUrlConfig"] = {"AuthType": "BOGUS"}
    with pytest.raises(InvalidDocumentException, match="AuthType"):
        sam_transform(bad)


# --- protections of the public endpoint (issue 12, findings 4 and 10) ---------------------------------


def test_reserved_concurrency_is_a_parameter_that_caps_the_function(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    param = sam["Parameters"]["ReservedConcurrency"]
    assert (param["Type"], param["Default"], param["MinValue"]) == ("Number", 20, -1)
    function = one(cfn, "AWS::Lambda::Function")["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert cfn["Conditions"]["HasReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, -1]}]
    }


def test_the_endpoint_is_a_function_url_or_a_throttled_http_api(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    assert sam["Parameters"]["Endpoint"]["AllowedValues"] == ["FunctionUrl", "ApiGateway"]
    assert sam["Parameters"]["Endpoint"]["Default"] == "FunctionUrl"
    url_side = {"AWS::Lambda::Url"}
    api_side = {"AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Route"}
    api_side |= {"AWS::ApiGatewayV2::Stage"}
    for name, resource in cfn["Resources"].items():
        if resource["Type"] in url_side:
            assert resource.get("Condition") == "UseFunctionUrl", name
        if resource["Type"] in api_side:
            assert resource.get("Condition") == "UseApiGateway", name
    public = [
        p for p in of_type(cfn, "AWS::Lambda::Permission").values() if p["Properties"]["Principal"] == "*"
    ]
    assert public and all(p.get("Condition") == "UseFunctionUrl" for p in public)
    stage = one(cfn, "AWS::ApiGatewayV2::Stage")["Properties"]
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
    }
    integration = one(cfn, "AWS::ApiGatewayV2::Integration")["Properties"]
    alias = {"Ref": next(iter(of_type(cfn, "AWS::Lambda::Alias")))}
    assert (integration["IntegrationUri"], integration["PayloadFormatVersion"]) == (alias, "2.0")
    [grant] = [
        p
        for p in of_type(cfn, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert (
        grant["Condition"] == "UseApiGateway" and "${HttpApi}" in grant["Properties"]["SourceArn"]["Fn::Sub"]
    )
    env = one(cfn, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert "HttpApi" in json.dumps(env["LAKEHOOK_CALLBACK_URL"])  # scheduled passes know the API's URL
    assert cfn["Outputs"]["ApiUrl"]["Condition"] == "UseApiGateway"


def test_the_deployed_handler_serves_api_gateway_events_too(tmp_path: Path) -> None:
    """One handler for both endpoints: an HTTP API (payload 2.0) event is served like a URL's."""
    from lambda_resolver.http import Services, make_handler
    from lambda_resolver.stores.sqlite import SqliteStore

    from support.events import http_event
    from support.harness import Harness

    h = Harness(SqliteStore(tmp_path / "x.db"))
    handler = make_handler(Services(engine=lambda: h.engine, signer=h.signer, operator_open=True))
    for kind in ("function_url", "http_api"):
        body = json.dumps({"id": f"p-{kind}"})
        created = handler(
            http_event(kind, "POST", "/v1/promises", body=body, headers={"content-type": "application/json"}),
            None,
        )
        assert created["statusCode"] == 201, (kind, created)


def test_the_log_group_outlives_the_stack(cfn: dict[str, Any]) -> None:
    group = one(cfn, "AWS::Logs::LogGroup")
    assert (group.get("DeletionPolicy"), group.get("UpdateReplacePolicy")) == ("Retain", "Retain")


def test_a_reconciler_pass_that_cannot_be_delivered_is_retried_then_kept(cfn: dict[str, Any]) -> None:
    [target] = one(cfn, "AWS::Events::Rule")["Properties"]["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    queue_name = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert cfn["Resources"][queue_name]["Type"] == "AWS::SQS::Queue"
    policy = one(cfn, "AWS::SQS::QueuePolicy")["Properties"]
    assert {"Ref": queue_name} in policy["Queues"]
    assert "events.amazonaws.com" in json.dumps(policy["PolicyDocument"])


def test_a_table_without_the_due_index_fails(sam: dict[str, Any]) -> None:
    bad = broken(sam)
    props = bad["Resources"]["Table"]["Properties"]
    props["GlobalSecondaryIndexes"] = [g for g in props["GlobalSecondaryIndexes"] if g["IndexName"] != "due"]
    problems = table_problems(bad)
    assert problems and all(f"GSI {schema.DUE_INDEX!r}" in p for p in problems)


def test_a_ttl_on_another_attribute_fails(sam: dict[str, Any]) -> None:
    bad = broken(sam)
    bad["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"]["AttributeName"] = "ttl"
    assert any("TimeToLiveSpecification" in p for p in table_problems(bad))


def test_a_scan_or_a_wildcard_in_the_role_fails(sam: dict[str, Any]) -> None:
    bad = broken(sam)
    document = bad["Resources"]["ResolverRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    document["Statement"].append({"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": "*"})
    problems = iam_problems(bad)
    assert any("dynamodb:Scan is not needed" in p for p in problems)
    assert any("wildcard resource '*'" in p for p in problems)


def test_python_311_fails(sam: dict[str, Any]) -> None:
    bad = broken(sam)
    bad["Globals"]["Function"]["Runtime"] = "python3.11"
    assert any("python3.12 or later" in p for p in function_problems(sam_transform(bad)))


def test_an_invalid_timeout_fails_the_lint_of_the_transformed_template(sam: dict[str, Any]) -> None:
    bad = broken(sam)
    bad["Globals"]["Function"]["Timeout"] = 1000  # Lambda's maximum is 900
    errors = lint_errors(sam_transform(bad))
    assert errors and all("Timeout" in e for e in errors), errors
