-- Gateway broker logins kept in the registry, for a broker that asks Vigil at every login
-- (EMQX's HTTP authenticator in compose.yaml; vigil/broker_login.py). Written in the same
-- transaction as the gateway they belong to (console: register, re-key, revoke). Each login is
-- bound to one MQTT client id, so it cannot take over another client's session
-- (docs/security.md). The password is stored as the local stack's Mosquitto plugin stores it
-- (vigil.broker_auth.hash_password): PBKDF2-HMAC-SHA512, base64 digest and salt.
create table broker_accounts (
    username     text primary key check (username ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
    client_id    text not null unique,
    password     text not null,
    salt         text not null,
    iterations   integer not null check (iterations >= 20000),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
