"""`wukong deploy` / `undeploy` against moto's IAM, Lambda and S3 (they keep roles and
functions as AWS would; moto runs no handler): create, update in place, delete, bad settings
named, and the paths a package takes (zip in the call, zip through S3, container image)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import stat
import zipfile

import boto3
import dask
import pytest
from moto import mock_aws

from executor_lambda.platforms.aws import deploy as deploy_module
from executor_lambda.platforms.aws.deploy import DeployError, deploy, undeploy
from executor_lambda.platforms.aws.iam import INLINE_POLICY
from executor_lambda.platforms.aws.limits import SettingError
from executor_lambda.platforms.aws.package import PackageSpec, ZipPackage, build
from executor_lambda.platforms.aws.settings import DeploySettings
from storage_manager.signing import Signer
from wukong.__main__ import main
from wukong.deployment import deploy_settings

ACCOUNT = "123456789012"
REDIS = "rediss://:token@master.wk.cache.amazonaws.com:6379"
VPC_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """Wukong's own packages and no dependencies: a real package, built without downloads."""
    root = tmp_path_factory.mktemp("package")
    return build(PackageSpec("x86_64", settings().runtime, ()), root / "build", root / "wheels")


@pytest.fixture
def session(aws_env):
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        yield boto3.session.Session(region_name="us-east-1")


KEY = "ab" * 32


def settings(**raw) -> DeploySettings:
    return DeploySettings.of({"function": "wk-test", "redis-urls": [REDIS], "signing-key": KEY,
                              **raw})


def changed(package: ZipPackage, tmp_path) -> ZipPackage:
    """The same package with one more file: new code."""
    path = tmp_path / "changed.zip"
    shutil.copy(package.path, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("wukong_extra.py", "CHANGED = True\n")
    return ZipPackage(path, package.unzipped_bytes + 15, hashlib.sha256(
        path.read_bytes()).hexdigest())


def sha256_b64(path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def test_deploy_creates_role_and_function_as_set(session, package):
    wanted = settings(memory=3008, timeout=300, architecture="arm64", **{
                      "ephemeral-storage": 1024, "proxy-threshold": 8,
                      "reserved-concurrency": 50, "subnets": ["subnet-1"],
                      "security-groups": ["sg-1"]})
    done = deploy(wanted, package, session)
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:wk-test"
    assert done.created and done.function_arn == arn
    function = session.client("lambda").get_function(FunctionName="wk-test")
    config = function["Configuration"]
    assert (config["MemorySize"], config["Timeout"], config["EphemeralStorage"]["Size"]) == (
        3008, 300, 1024)
    assert config["Handler"] == "executor_lambda.handler.handler"
    assert config["Runtime"] == wanted.runtime and config["Architectures"] == ["arm64"]
    assert config["Environment"]["Variables"] == {
        "WUKONG_REDIS_URLS": REDIS, "WUKONG_FUNCTION": "wk-test",
        "WUKONG_PAYLOAD_LIMIT": "262144", "WUKONG_PLATFORM": "aws", "WUKONG_SIGNING_KEY": KEY,
        "WUKONG_PROXY_THRESHOLD": "8"}
    assert config["VpcConfig"]["SubnetIds"] == ["subnet-1"]
    assert config["VpcConfig"]["SecurityGroupIds"] == ["sg-1"]
    assert config["CodeSha256"] == sha256_b64(package.path)
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 50

    iam = session.client("iam")
    role = iam.get_role(RoleName="wk-test-role")["Role"]
    assert config["Role"] == role["Arn"] == done.role_arn
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    policy = iam.get_role_policy(RoleName="wk-test-role", PolicyName=INLINE_POLICY)
    statements = policy["PolicyDocument"]["Statement"]
    invoke = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    assert [s["Resource"] for s in invoke] == [arn]
    logs = [r for s in statements if s is not invoke[0]
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert all(r.startswith(f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/wk-test")
               for r in logs)
    attached = iam.list_attached_role_policies(RoleName="wk-test-role")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [VPC_POLICY]


def test_second_deploy_updates_code_and_configuration_in_place(session, package, tmp_path):
    first = deploy(settings(**{"reserved-concurrency": 10, "subnets": ["subnet-1"],
                               "security-groups": ["sg-1"]}), package, session)
    new_code = changed(package, tmp_path)
    other = "rediss://:token@other.wk.cache.amazonaws.com:6379"
    second = deploy(settings(memory=4096, **{"redis-urls": [other]}), new_code, session)
    assert not second.created and second.role_arn == first.role_arn
    function = session.client("lambda").get_function(FunctionName="wk-test")
    config = function["Configuration"]
    assert config["MemorySize"] == 4096
    assert config["Environment"]["Variables"]["WUKONG_REDIS_URLS"] == other
    assert config["CodeSha256"] == sha256_b64(new_code.path) != sha256_b64(package.path)
    assert config["VpcConfig"]["SubnetIds"] == []
    assert "Concurrency" not in function
    iam = session.client("iam")
    assert iam.list_attached_role_policies(RoleName="wk-test-role")["AttachedPolicies"] == []
    assert len(iam.list_roles()["Roles"]) == 1


def test_undeploy_removes_function_and_role(session, package):
    deploy(settings(), package, session)
    assert undeploy("wk-test", session=session) == ["function wk-test", "role wk-test-role"]
    with pytest.raises(session.client("lambda").exceptions.ResourceNotFoundException):
        session.client("lambda").get_function(FunctionName="wk-test")
    iam = session.client("iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="wk-test-role")
    assert undeploy("wk-test", session=session) == []


@pytest.mark.parametrize(("raw", "named"), [
    ({"memory": 64}, "wukong.aws.memory"),
    ({"memory": 10_241}, "wukong.aws.memory"),
    ({"memory": 1024.5}, "wukong.aws.memory"),
    ({"timeout": 901}, "wukong.aws.timeout"),
    ({"timeout": 0}, "wukong.aws.timeout"),
    ({"ephemeral-storage": 100}, "wukong.aws.ephemeral-storage"),
    ({"reserved-concurrency": 0}, "wukong.aws.reserved-concurrency"),
    ({"architecture": "arm"}, "wukong.aws.architecture"),
    ({"runtime": "python3.8"}, "wukong.aws.runtime"),
    ({"function": "no spaces allowed"}, "wukong.aws.function"),
    ({"redis-urls": []}, "wukong.redis.urls"),
    ({"redis-urls": ["http://cache:6379"]}, "wukong.redis.urls"),
    ({"redis-urls": ["rediss://h:6379/" + "x" * 5000]}, "wukong.redis.urls"),
    ({"payload-limit": 2_000_000}, "wukong.runtime.payload-limit"),
    ({"subnets": ["subnet-1"]}, "wukong.aws.security-groups"),
    ({"packages": ["not a requirement!"]}, "wukong.aws.packages"),
    ({"memroy": 1024}, "wukong.aws.memroy"),
])
def test_deploy_settings_out_of_lambda_limits_name_the_setting(raw, named):
    with pytest.raises(SettingError, match=named.replace(".", r"\.")):
        settings(**raw)


def test_deploy_settings_come_from_dask_config_and_the_cli(aws_env, capsys):
    with dask.config.set({"wukong.redis.urls": [REDIS], "wukong.aws.memory": 4096,
                          "wukong.aws.function": "from-config"}):
        assert deploy_settings().memory == 4096
        assert deploy_settings(memory=512).memory == 512
        assert deploy_settings().function == "from-config"
        assert main(["deploy", "--memory", "20000"]) == 1
    assert "wukong.aws.memory must be a whole number of MB from 128 to 10,240" in (
        capsys.readouterr().err)


def test_cli_deploys_an_image_and_undeploys_it(session, package, capsys):
    """`wukong deploy --image-uri` makes an Image function (nothing is built), and a later
    zip for it is refused, since Lambda cannot change a function's package type."""
    image = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/wukong/wk-cli:abc"
    assert main(["deploy", "--function", "wk-cli", "--redis-url", REDIS,
                 "--image-uri", image]) == 1
    assert "--redis-url carries a password" in capsys.readouterr().err
    plain = "rediss://master.wk.cache.amazonaws.com:6379"
    assert main(["deploy", "--function", "wk-cli", "--redis-url", plain,
                 "--image-uri", image]) == 0
    assert f"created arn:aws:lambda:us-east-1:{ACCOUNT}:function:wk-cli" in (
        capsys.readouterr().out)
    config = session.client("lambda").get_function_configuration(FunctionName="wk-cli")
    assert config["PackageType"] == "Image"
    assert config["ImageConfigResponse"]["ImageConfig"]["Command"] == [
        "executor_lambda.handler.handler"]
    with pytest.raises(DeployError, match="cannot change a function's package type"):
        deploy(settings(function="wk-cli"), package, session)
    assert main(["undeploy", "--function", "wk-cli"]) == 0
    assert "deleted function wk-cli, role wk-cli-role" in capsys.readouterr().out


def test_deploy_uploads_a_large_zip_through_s3(session, package, monkeypatch):
    """Over Lambda's limit for a zip in the call (here set low) the zip goes through the code
    bucket, which undeploy empties of the function's code."""
    monkeypatch.setattr(deploy_module, "ZIP_DIRECT_UPLOAD_BYTES", 1000)
    with pytest.raises(DeployError, match=r"wukong\.aws\.code-bucket"):
        deploy(settings(), package, session)
    s3 = session.client("s3")
    s3.create_bucket(Bucket="wk-code")
    deploy(settings(**{"code-bucket": "wk-code"}), package, session)
    key = f"wukong/wk-test/{package.sha256}.zip"
    assert s3.get_object(Bucket="wk-code", Key=key)["Body"].read() == package.path.read_bytes()
    config = session.client("lambda").get_function_configuration(FunctionName="wk-test")
    assert config["CodeSha256"] == sha256_b64(package.path)
    removed = undeploy("wk-test", code_bucket="wk-code", session=session)
    assert "1 code objects under s3://wk-code/wukong/wk-test/" in removed
    assert s3.list_objects_v2(Bucket="wk-code").get("KeyCount") == 0


def test_deploy_of_an_image_package_without_docker_says_what_to_do(session, tmp_path,
                                                                   monkeypatch):
    """A package over the zip limit needs a container image; with no docker engine the error
    names the Dockerfile written and `wukong.aws.image-uri`, and nothing is created."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    image = build(PackageSpec("arm64", settings().runtime, ()), tmp_path / "b",
                  tmp_path / "w", max_zip_bytes=1000)
    with pytest.raises(DeployError) as caught:
        deploy(settings(architecture="arm64"), image, session)
    message = str(caught.value)
    assert str(image.dockerfile) in message and "wukong.aws.image-uri" in message
    assert "docker" in message
    assert session.client("lambda").list_functions()["Functions"] == []
    assert session.client("iam").list_roles()["Roles"] == []


def test_deploy_gives_the_function_the_key_file_s_signing_key(session, package, tmp_path):
    """`wukong deploy` creates the deployment's key file (0600, in a 0700 directory) and
    sets its key in the function's environment; a second deploy reuses it; a key file other
    users may read is refused; with signing off the function is told `off`."""
    path = tmp_path / "keys" / "wk-key.key"
    with dask.config.set({"wukong.redis.urls": [REDIS], "wukong.security.key-file": str(path)}):
        first = deploy_settings(function="wk-key")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.read_text().strip() == first.signing_key
        assert Signer.from_text(first.signing_key).enabled
        assert first.signing_key not in repr(first) and REDIS not in repr(first)
        deploy(first, package, session)
        config = session.client("lambda").get_function_configuration(FunctionName="wk-key")
        assert config["Environment"]["Variables"]["WUKONG_SIGNING_KEY"] == first.signing_key
        assert deploy_settings(function="wk-key").signing_key == first.signing_key
        path.chmod(0o644)
        with pytest.raises(PermissionError, match="chmod 600"):
            deploy_settings(function="wk-key")
        with dask.config.set({"wukong.security.sign-payloads": False}):
            assert deploy_settings(function="wk-key").signing_key == "off"
