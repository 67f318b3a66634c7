#!/bin/sh
# Configures Keystone from the environment, brings its schema up to date, makes the admin and the
# `pratai` service user (idempotently: every start), and serves the identity API on :5000.
#   KEYSTONE_DB_CONNECTION    mysql+pymysql://keystone:PASS@mariadb:3306/keystone
#   KEYSTONE_ADMIN_PASSWORD   the `admin` user's password
#   KEYSTONE_PUBLIC_URL       where clients reach Keystone (the catalog's identity endpoint)
#   PRATAI_KEYSTONE_PASSWORD  the `pratai` service user's password ([keystone_authtoken] password)
set -eu
conf=/etc/keystone/keystone.conf
cat > "$conf" <<CONF
[database]
connection = ${KEYSTONE_DB_CONNECTION}
[token]
provider = fernet
[fernet_tokens]
key_repository = /etc/keystone/keys/fernet
[credential]
key_repository = /etc/keystone/keys/credential
CONF
mkdir -p /etc/keystone/keys
keystone-manage --config-file "$conf" db_sync
[ -d /etc/keystone/keys/fernet ] || keystone-manage --config-file "$conf" fernet_setup --keystone-user root --keystone-group root
[ -d /etc/keystone/keys/credential ] || keystone-manage --config-file "$conf" credential_setup --keystone-user root --keystone-group root
keystone-manage --config-file "$conf" bootstrap --bootstrap-password "$KEYSTONE_ADMIN_PASSWORD" \
  --bootstrap-public-url "$KEYSTONE_PUBLIC_URL" --bootstrap-internal-url http://keystone:5000/v3 --bootstrap-region-id RegionOne

OS_KEYSTONE_CONFIG_FILES="$conf" keystone-wsgi-public --host 0.0.0.0 --port 5000 &
server=$!
# The service project, the `service` role and the `pratai` user holding it: validating users'
# tokens needs the service (or admin) role.
python3 - <<'PY'
import json, os, time, urllib.error, urllib.request
base = 'http://127.0.0.1:5000/v3'
def call(method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={'Content-Type': 'application/json', **({'X-Auth-Token': token} if token else {})})
    with urllib.request.urlopen(request) as answer:
        return answer.headers.get('X-Subject-Token'), json.loads(answer.read() or b'{}')
for _ in range(60):
    try:
        call('GET', '')
        break
    except (urllib.error.URLError, ConnectionError):
        time.sleep(1)
scope = {'project': {'name': 'admin', 'domain': {'id': 'default'}}}
auth = {'auth': {'identity': {'methods': ['password'], 'password': {'user': {'name': 'admin', 'domain': {'id': 'default'}, 'password': os.environ['KEYSTONE_ADMIN_PASSWORD']}}}, 'scope': scope}}
token, _ = call('POST', '/auth/tokens', auth)
def ensure(kind, name, body):
    _, found = call('GET', f'/{kind}?name={name}', token=token)
    if found[kind]:
        return found[kind][0]['id']
    _, made = call('POST', f'/{kind}', {kind[:-1]: body}, token)
    return made[kind[:-1]]['id']
project = ensure('projects', 'service', {'name': 'service', 'domain_id': 'default'})
role = ensure('roles', 'service', {'name': 'service'})
user = ensure('users', 'pratai', {'name': 'pratai', 'domain_id': 'default', 'password': os.environ['PRATAI_KEYSTONE_PASSWORD']})
call('PATCH', f'/users/{user}', {'user': {'password': os.environ['PRATAI_KEYSTONE_PASSWORD']}}, token)
call('PUT', f'/projects/{project}/users/{user}/roles/{role}', token=token)
print('keystone: admin and the pratai service user are ready', flush=True)
PY
wait "$server"
