"""Generated secrets of each class the redactor covers never survive it, and ordinary code
that merely names a password or a token comes through unchanged."""

from __future__ import annotations

import string
import urllib.parse

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ssd.traffic.redact import redact

ALNUM = string.ascii_letters + string.digits
SYMBOLS = "!#%&*+=?^~@"
_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A password as password rules make them: starts with a letter or digit, at least one symbol.
password = st.builds(
    lambda head, body, sym, tail: head + body + sym + tail,
    st.sampled_from(ALNUM),
    st.text(alphabet=ALNUM + SYMBOLS + "._-", min_size=5, max_size=24),
    st.sampled_from(SYMBOLS),
    st.text(alphabet=ALNUM, min_size=1, max_size=4),
)
# A pass phrase: words and spaces (a quoted value).
phrase = st.lists(st.text(alphabet=ALNUM + SYMBOLS, min_size=3, max_size=10), min_size=2, max_size=5).map(" ".join)
user = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=3, max_size=10).map(lambda u: "u" + u)

# Ordinary lines around the secret: they must come through unchanged.
CONTEXT = [
    "Why does my app not start with this config?",
    "def load(path):\n    return yaml.safe_load(open(path))",
    "host: db.internal\nport: 5432",
    "It works on my machine but not in CI.",
]

SECRET_KEYS = [
    "password",
    "PASSWORD",
    "Password",
    "db_password",
    "DB_PASS",
    "spring.datasource.password",
    "mysql.password",
    "apiKey",
    "api_key",
    "API-KEY",
    "client_secret",
    "clientSecret",
    "auth_token",
    "AUTH_TOKEN",
    "passwd",
    "pwd",
    "secret",
    "token",
    "private_key",
    "aws_secret_access_key",
    "PGPASSWORD",
    "credentials",
    '"password"',
    "'secret'",
]


def _check(text: str, secret: str, context: tuple[str, str]) -> str:
    assume(secret not in text.replace(secret, "", 1))  # it occurs once: the one planted
    out = redact(text).text
    assert secret not in out, f"{secret!r} survived in {out!r}"
    assert out.startswith(context[0]) and out.endswith(context[1]), out  # the rest is left
    assert redact(out).text == out  # idempotent
    return out


context = st.tuples(st.sampled_from(CONTEXT), st.sampled_from(CONTEXT))


@_SETTINGS
@given(
    key=st.sampled_from(SECRET_KEYS),
    sep=st.sampled_from([": ", ":", "=", " = ", " => ", "\t=\t"]),
    lead=st.sampled_from(["", "  ", "    ", "export ", "- ", "set "]),
    value=st.one_of(
        password.map(lambda p: (p, p)),
        phrase.map(lambda p: (f'"{p}"', p)),
        phrase.map(lambda p: (f"'{p}'", p)),
    ),
    trailing=st.sampled_from(["", "  ", ","]),
    ctx=context,
)
def test_a_secret_named_key_loses_its_value_in_any_config_syntax(key, sep, lead, value, trailing, ctx):
    shown, secret = value
    line = f"{lead}{key}{sep}{shown}{trailing}"
    _check(f"{ctx[0]}\n{line}\n{ctx[1]}", secret, ctx)


@_SETTINGS
@given(
    scheme=st.sampled_from(["postgresql", "mysql", "redis", "https", "amqp", "mongodb+srv", "ftp"]),
    name=user,
    secret=st.builds(
        lambda a, b, c: a + b + c,
        st.sampled_from(string.ascii_letters),
        st.text(alphabet=ALNUM + "/@!$%&*+=~-._", min_size=4, max_size=20),
        st.sampled_from(["/", "@", "/x@", "@/"]),
    ),
    host=st.sampled_from(["db.internal", "cache", "10.0.0.5", "mq.example.com"]),
    rest=st.sampled_from(["", ":5432/app", "/0", "/db?sslmode=require", ":6379"]),
    quote=st.sampled_from(["'", '"', ""]),
    ctx=context,
)
def test_a_url_password_goes_whole_even_with_slashes_and_at_signs(scheme, name, secret, host, rest, quote, ctx):
    url = f"{scheme}://{name}:{secret}@{host}{rest}"
    out = _check(f"{ctx[0]}\nengine = connect({quote}{url}{quote})\n{ctx[1]}", secret, ctx)
    assert f"{scheme}://{name}:[REDACTED:url-password]@{host}{rest}" in out


CLI_FORMS = [
    ("curl -u {user}:{pw} https://api.example.com/v1", "pw"),
    ("curl --user '{user}:{phrase}' https://api.example.com/v1", "phrase"),
    ("curl -s -u{user}:{pw} -X POST https://x.example.com", "pw"),
    ("wget --http-user={user} --http-password={pw} https://x.example.com/f", "pw"),
    ("mysql -u{user} -p{pw} mydb < dump.sql", "pw"),
    ("mysqldump -h db -u {user} -p'{phrase}' shop > shop.sql", "phrase"),
    ("mysqladmin -u root --password={pw} status", "pw"),
    ("sshpass -p {pw} ssh {user}@host.example.com", "pw"),
    ("docker login -u {user} -p {pw} registry.example.com", "pw"),
    ("redis-cli -h cache -a {pw} ping", "pw"),
    ("smbclient //srv/share -U {user}%{pw}", "pw"),
    ("ldapsearch -x -D cn={user},dc=example -w {pw} -b dc=example", "pw"),
    ("sqlcmd -S db -U {user} -P {pw} -Q 'select 1'", "pw"),
    ("mytool --api-key {pw} --verbose", "pw"),
    ("deploy --token={pw} --env prod", "pw"),
    ("openssl pkcs12 -in cert.p12 -passin pass:{pw} -nodes", "pw"),
    ("keytool -list -keystore ks.jks -storepass {pw}", "pw"),
    ("machine api.example.com login {user} password {pw}", "pw"),
    ("machine api.example.com\n  login {user}\n  password {pw}", "pw"),
    ('curl -H "Authorization: Bearer {pw}" https://api.example.com', "pw"),
    ("curl -H 'X-Api-Key: {phrase}' https://api.example.com", "phrase"),
    ("Authorization: Basic {pw}", "pw"),
    ("GET https://api.example.com/items?token={pw}&page=2", "pw"),
    ("PGPASSWORD={pw} psql -h db -U {user}", "pw"),
]


@_SETTINGS
@given(form=st.sampled_from(CLI_FORMS), name=user, pw=password, phr=phrase, ctx=context)
def test_credentials_given_to_common_clis_never_survive(form, name, pw, phr, ctx):
    template, which = form
    assume("%" not in pw or "smbclient" not in template)
    if "?" in template:  # a query value goes percent-encoded, as a client sends it ("&" would end it)
        pw = urllib.parse.quote(pw, safe="")
    line = template.format(user=name, pw=pw, phrase=phr)
    _check(f"{ctx[0]}\n{line}\n{ctx[1]}", pw if which == "pw" else phr, ctx)


# Ordinary code that names passwords and tokens: nothing in it is a secret.
ORDINARY_CODE = [
    "def login(user: str, password: str) -> bool:\n    return check(user, password)",
    "class Config:\n    password: str\n    api_key: Optional[str] = None\n    token: SecretStr = Field(...)\n",
    "password = getpass.getpass('Password: ')\nif password == confirm:\n    save(password=password)",
    "self.token = token\nself.password = kwargs.get('password')\nsecret_key = os.environ['SECRET_KEY']",
    "max_tokens = 256\ntokenizer = AutoTokenizer.from_pretrained(name)\nnum_tokens: int = 0",
    "headers = {'Authorization': f'Bearer {token}'}\nresp = requests.get(url, headers=headers)",
    "for key in sorted(d):\n    print(key, d[key])\nsort_key = lambda x: x[1]",
    "password_hash = bcrypt.hashpw(password.encode(), salt)",
    "    token = tokens[i]\n    auth = (user, password)\n    cookie = None",
    "parser.add_argument('--password', help='the password')\nparser.add_argument('--token', type=str)",
    "git push -u origin main\ndocker run -p 8080:80 -u 1000:1000 image\nssh -p 2222 host",
    "steps:\n  - uses: actions/checkout@v4\n    with:\n      token: ${{ secrets.GITHUB_TOKEN }}\n"
    "password: ${DB_PASSWORD}\napi_key: null",
    "see http://localhost:8000/docs and http://localhost:8000/users/@me",
    "const password = req.body.password;\nconst { token } = await login(user, password);",
    "def f(password=None, token=''):\n    url = f'{base}?page=2&size=10'\n    return connect(password=password)",
    "if not token:\n    raise ValueError('no token')\nelif len(password) < 8:\n    return False",
    "    password = password.strip()\n    token = next(iter(tokens))\n    secret = os.urandom(16)",
    "user = User(name='bob', password=hashed)\nsession['token'] = token",
    "git clone git@github.com:me/project.git\nmysql --version\ncurl -s https://example.com | jq .",
    "Please write a function that checks whether a password is strong enough.",
]


@pytest.mark.parametrize("code", ORDINARY_CODE)
def test_ordinary_code_naming_secrets_is_left_alone(code):
    out = redact(code)
    assert out.text == code and out.count == 0, out.text


def test_a_query_value_that_reads_like_code_is_still_redacted():
    # Hypothesis found `?token=a00.A0` kept as if it were `token=config.token` in code.
    for url in ("https://api.example.com/items?token=a00.A0&page=2", "https://x.example.com/?p=1&api_key=ab.Cd3(x)"):
        out = redact(url).text
        assert "[REDACTED:secret-value]" in out and "a00.A0" not in out and "ab.Cd3" not in out, out
    assert redact("token = config.token").text == "token = config.token"
