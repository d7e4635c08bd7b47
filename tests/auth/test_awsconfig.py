"""lib/awsconfig.c's reading of the AWS shared files against botocore's own.

Each case writes a credentials file and a config file into a temporary
directory, sets the AWS_* environment, and asks both botocore (a Session
with the same environment; what the AWS CLI builds on) and
tests/auth/awsconfig-resolve which credentials and region a call would use,
or whether the files are refused.  Where endpointctl deliberately refuses
what botocore would accept (an empty key, a key over several lines, a named
profile with no keys), the case says so.
"""
import os
import subprocess

import botocore.exceptions
import botocore.session
import pytest

RESOLVE = os.environ.get("AWSCONFIG_RESOLVE") or os.path.join(
    os.environ.get("top_builddir", "."), "tests", "auth", "awsconfig-resolve")

REFUSED = "refused"


def base_env(tmp_path):
    return {
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "BOTO_CONFIG": "/nonexistent",
    }


def ours(env, profile=None, region=None):
    args = [RESOLVE] + (["--profile", profile] if profile else []) + \
        (["--region", region] if region else [])
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode in (0, 1), p.stderr
    if p.returncode == 1:
        return REFUSED, p.stdout.strip()
    got = dict(line.split("=", 1) for line in p.stdout.splitlines())
    return (got["access_key_id"] or None, got["secret_access_key"] or None,
            got["session_token"] or None, got["region"]), None


def botocores(env, profile=None, monkeypatch=None):
    for k in list(os.environ):
        if k.startswith("AWS_") or k in ("HOME", "BOTO_CONFIG"):
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    try:
        session = botocore.session.Session(profile=profile)
        creds = session.get_credentials()
        region = session.get_config_variable("region") or "us-east-1"
    except (botocore.exceptions.ProfileNotFound, botocore.exceptions.ConfigParseError,
            botocore.exceptions.PartialCredentialsError) as e:
        return REFUSED, str(e)
    if creds is None:
        return (None, None, None, region), None
    frozen = creds.get_frozen_credentials()
    return (frozen.access_key, frozen.secret_key, frozen.token, region), None


# name: (credentials file, config file, extra environment, --profile)
CASES = {
    "default_profile_from_the_credentials_file": (
        "[default]\naws_access_key_id = AKIDA\naws_secret_access_key = secretA\n", None, {}, None),
    "keys_are_case_insensitive_and_colon_separates_too": (
        "[default]\nAWS_Access_Key_ID: AKIDA\n  aws_secret_access_key   =   s e c  \n", None, {},
        None),
    "comments_whole_line_only": (
        "# top\n; top\n[default]\n  # indented comment\naws_access_key_id = AKIDA\n"
        "aws_secret_access_key = secret # not a comment\n", None, {}, None),
    "value_split_at_the_first_delimiter": (
        "[default]\naws_access_key_id = AKIDA\naws_secret_access_key = a=b:c\n", None, {}, None),
    "crlf_and_cr_line_ends": (
        "[default]\r\naws_access_key_id = AKIDA\raws_secret_access_key = s\r\n", None, {}, None),
    "section_header_runs_to_the_last_bracket": (
        "[default] trailing]\naws_access_key_id = X\naws_secret_access_key = s\n"
        "[default]x\naws_access_key_id = AKIDB\naws_secret_access_key = s\n", None, {}, None),
    "nested_settings_are_ignored": (
        "[default]\naws_access_key_id = AKIDA\ns3 =\n  max_concurrent_requests = 10\n"
        "  addressing_style = path\naws_secret_access_key = s\n", None, {}, None),
    "nested_settings_without_equals_are_refused": (
        "[default]\naws_access_key_id = AKIDA\ns3 =\n  not a setting\naws_secret_access_key = s\n",
        None, {}, None),
    "fallback_section_applies_to_every_profile": (
        "[DEFAULT]\naws_secret_access_key = shared\n[default]\naws_access_key_id = AKIDA\n", None,
        {}, None),
    "line_before_any_section_is_refused": (
        "aws_access_key_id = AKIDA\n[default]\n", None, {}, None),
    "line_without_delimiter_is_refused": (
        "[default]\naws_access_key_id AKIDA\n", None, {}, None),
    "value_without_name_is_refused": ("[default]\n= AKIDA\n", None, {}, None),
    "section_twice_is_refused": (
        "[default]\naws_access_key_id = AKIDA\n[default]\naws_secret_access_key = s\n", None, {},
        None),
    "key_twice_is_refused": (
        "[default]\naws_access_key_id = AKIDA\naws_access_key_id = AKIDB\n"
        "aws_secret_access_key = s\n", None, {}, None),
    "key_twice_in_other_case_is_refused": (
        "[default]\nregion = eu-west-1\nREGION = eu-west-2\n", None, {}, None),
    "broken_config_file_is_refused_even_with_credentials_elsewhere": (
        "[default]\naws_access_key_id = AKIDA\naws_secret_access_key = s\n", "junk\n", {}, None),
    "session_token_and_the_older_security_token": (
        "[default]\naws_access_key_id = AKIDA\naws_secret_access_key = s\n"
        "aws_session_token = session\naws_security_token = security\n", None, {}, None),
    "environment_beats_the_files": (
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n", None,
        {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "envsecret",
         "AWS_SESSION_TOKEN": "envtoken"}, None),
    "environment_beats_aws_profile": (
        "[p]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n", None,
        {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "e", "AWS_PROFILE": "p"}, None),
    "profile_option_beats_the_environment": (
        "[p]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n", None,
        {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "e"}, "p"),
    "aws_profile_picks_the_profile": (
        "[default]\naws_access_key_id = AKIDA\naws_secret_access_key = a\n"
        "[ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = c\n", None,
        {"AWS_PROFILE": "ci"}, None),
    "unknown_profile_option_is_refused": (
        "[default]\naws_access_key_id = AKIDA\naws_secret_access_key = a\n", None, {}, "nope"),
    "unknown_aws_profile_is_refused_even_with_environment_keys": (
        None, None, {"AWS_PROFILE": "nope", "AWS_ACCESS_KEY_ID": "AKIDENV",
                     "AWS_SECRET_ACCESS_KEY": "e"}, None),
    "environment_key_without_secret_is_refused": (
        None, None, {"AWS_ACCESS_KEY_ID": "AKIDENV"}, None),
    "file_key_without_secret_is_refused": (
        "[default]\naws_access_key_id = AKIDA\n", None, {}, None),
    "credentials_file_beats_config_file": (
        "[default]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = c\n",
        "[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = k\n", {}, None),
    "config_file_profile_section": (
        None, "[profile ci]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = k\n"
        "region = ap-south-1\n", {}, "ci"),
    "config_file_profile_name_quoted_and_spaced": (
        None, '[profile   "my ci"]\naws_access_key_id = AKIDQ\naws_secret_access_key = k\n',
        {}, "my ci"),
    "config_file_profile_section_unbalanced_quote_is_not_a_profile": (
        None, '[profile "ci]\naws_access_key_id = AKIDQ\naws_secret_access_key = k\n', {}, "ci"),
    "config_file_section_without_profile_prefix_is_not_a_profile": (
        None, "[ci]\naws_access_key_id = AKIDQ\naws_secret_access_key = k\n", {}, "ci"),
    "config_file_profile_default_and_default": (
        None, "[profile default]\naws_access_key_id = AKID1\naws_secret_access_key = k\n"
        "[default]\naws_access_key_id = AKID2\naws_secret_access_key = k\n", {}, None),
    "config_file_secret_without_key_is_skipped": (
        None, "[default]\naws_secret_access_key = k\n", {}, None),
    "credentials_file_profile_prefix_is_a_plain_name": (
        "[profile ci]\naws_access_key_id = AKIDP\naws_secret_access_key = k\n", None, {},
        "profile ci"),
    "region_from_the_environment": (
        None, "[default]\nregion = eu-west-1\n", {"AWS_DEFAULT_REGION": "eu-central-1"}, None),
    "region_from_the_profile": (None, "[default]\nregion = eu-west-1\n", {}, None),
    "region_from_the_credentials_file_beats_the_config_file": (
        "[default]\nregion = eu-north-1\n", "[default]\nregion = eu-west-1\n", {}, None),
    "region_of_the_named_profile": (
        None, "[default]\nregion = eu-west-1\n[profile p]\nregion = sa-east-1\n",
        {"AWS_PROFILE": "p", "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "e"}, None),
    "no_credentials_anywhere": (None, None, {}, None),
    "empty_files": ("", "", {}, None),
    "only_comments_and_blank_lines": ("# nothing\n\n   \n;x\n", "\n", {}, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_resolution_equals_botocore(case, tmp_path, monkeypatch):
    creds, config, extra, profile = CASES[case]
    env = base_env(tmp_path)
    env.update(extra)
    if creds is not None:
        (tmp_path / "credentials").write_bytes(creds.encode())
    if config is not None:
        (tmp_path / "config").write_bytes(config.encode())
    got, got_error = ours(env, profile)
    want, want_error = botocores(env, profile, monkeypatch)
    if want == REFUSED:
        assert got == REFUSED, (got, want_error)
        if "could not be found" in want_error:
            assert got_error == "error: " + want_error
    else:
        assert got == want, got_error


# Where endpointctl refuses what botocore takes, with a line to say why.

@pytest.mark.parametrize("creds, words", [
    ("[default]\naws_access_key_id =\naws_secret_access_key = s\n", "aws_access_key_id is empty"),
    ("[default]\naws_access_key_id = AKIDA\n  more\naws_secret_access_key = s\n",
     "aws_access_key_id spans more than one line"),
])
def test_what_botocore_would_sign_with_but_cannot_be_a_key_is_refused(tmp_path, creds, words):
    env = base_env(tmp_path)
    (tmp_path / "credentials").write_text(creds)
    got, error = ours(env)
    assert got == REFUSED
    assert words in error and str(tmp_path / "credentials") + ":2:" in error


def test_named_profile_without_keys_is_refused(tmp_path):
    env = base_env(tmp_path)
    (tmp_path / "config").write_text("[profile p]\nregion = eu-west-1\n")
    assert ours(env, "p") == (REFUSED, "error: The config profile (p) has no credentials "
                              "(aws_access_key_id and aws_secret_access_key)")


def test_paths_expand_variables_and_home(tmp_path):
    env = base_env(tmp_path)
    env["AWS_SHARED_CREDENTIALS_FILE"] = "~/sub/$NAME-${SUFFIX}"
    env["NAME"], env["SUFFIX"] = "creds", "file"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "creds-file").write_text(
        "[default]\naws_access_key_id = AKIDX\naws_secret_access_key = s\n")
    assert ours(env)[0][0] == "AKIDX"
