-- The console speaks the operator's language (issue 22): system timeline entries are stored as a
-- catalogue code with parameters (vigil/messages.py) and rendered when read; the note column
-- keeps an English rendering for logs and old readers. Rows written before this migration keep
-- only their English note; the console maps the known sentences to codes when it reads them.
alter table incident_timeline
    add column code   text,
    add column params jsonb;

-- Evidence for a panic press: how the resident moves, and which contacts hold a key.
alter table residents
    add column mobility text check (mobility in ('independent', 'walking_aid', 'wheelchair', 'bedridden'));
alter table contacts
    add column has_key boolean not null default false;

-- Which operators have an incident open, and who is acting on it (several seats).
create table incident_presence (
    incident_id   bigint not null references incidents (id),
    user_id       bigint not null references users (id),
    display_name  text not null,
    activity      text not null check (activity in ('viewing', 'handling')),
    seen_at       timestamptz not null,
    primary key (incident_id, user_id)
);

-- The district's own geometry for the map when no base map is configured: a building's
-- footprint (GeoJSON Polygon) and the site's streets (GeoJSON FeatureCollection of named lines).
alter table buildings add column footprint jsonb;
alter table sites add column streets jsonb;
