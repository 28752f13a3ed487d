// Exact zigbee2mqtt output for Vigil's tests, made by zigbee-herdsman-converters (MIT) itself.
//
// Reads a JSON spec on stdin:
//   {"devices": [{"ieee": "0x...", "friendly_name": "kitchen/smoke", "model_id": "SmokeSensor-EM",
//                 "manufacturer": "HEIMAN", "steps": [MESSAGE, ...]}]}
// MESSAGE is a raw Zigbee message as zigbee-herdsman hands it to zigbee2mqtt:
//   {"cluster": "ssIasZone", "type": "commandStatusChangeNotification",
//    "data": {"zonestatus": 1, "extendedstatus": 0}, "endpoint": 1, "linkquality": 120}
// or {"wait": seconds}: let the converters' own timers run (an occupancy timeout) and publish
// what they published then;
// or, for Tuya's datapoint cluster, {"tuya": [[dp, datatype, value], ...]} (datatype 0 raw,
// 1 bool, 2 value, 3 string, 4 enum, 5 bitmap).
// Writes {"devices": [bridge/devices entry, ...], "payloads": {friendly_name: [state, ...]}}:
// the device's definition and exposes as zigbee2mqtt publishes them on `bridge/devices`, and,
// per step, the state zigbee2mqtt publishes on `<base>/<friendly_name>` (the device's cached
// state merged with what the converters returned, `action` not cached, plus `linkquality`),
// or null when the converters returned nothing (zigbee2mqtt publishes nothing then).
"use strict";

const zhc = require("zigbee-herdsman-converters");

zhc.setLogger({
    debug: () => {},
    info: () => {},
    warning: () => {},
    error: (m) => process.stderr.write(`zhc error: ${m}\n`),
});

// zigbee2mqtt does not keep these in a device's cached state (lib/state.ts).
const NOT_CACHED = /^(action|action_.*|button|button_left|button_right|forgotten|keyerror|step_size|transition_time|group_list|group_capacity|no_occupancy_since|step_mode)$/;

// Class names matter: the converters' global store tells entities apart by them.
class Endpoint {
    constructor(device, id) {
        this.ID = id;
        this.deviceIeeeAddress = device.ieeeAddr;
        this.inputClusters = [];
        this.outputClusters = [];
        this.clusters = {};
        this.meta = {};
        this._device = device;
    }
    getDevice() { return this._device; }
    supportsInputCluster() { return true; }
    supportsOutputCluster() { return true; }
    getClusterAttributeValue() { return undefined; }
    saveClusterAttributeKeyValue() {}
    save() {}
    async read() { return {}; }
    async write() {}
    async command() { return {}; }
    async configureReporting() {}
    async bind() {}
    async defaultResponse() {}
}

class Device {
    constructor(spec) {
        this.ieeeAddr = spec.ieee;
        this.networkAddress = 0x1234;
        this.modelID = spec.model_id;
        this.manufacturerName = spec.manufacturer;
        this.manufacturerID = spec.manufacturer_id ?? 0;
        this.type = spec.type ?? "EndDevice";
        this.powerSource = spec.power_source ?? "Battery";
        this.softwareBuildID = spec.software_build_id;
        this.interviewCompleted = true;
        this.meta = {};
        this.customClusters = {};
        this.endpoints = (spec.endpoints ?? [1]).map((id) => new Endpoint(this, id));
    }
    getEndpoint(id) { return this.endpoints.find((e) => e.ID === id); }
    save() {}
}

function mockDevice(spec) {
    return new Device(spec);
}

function tuyaBuffer(datatype, value) {
    switch (datatype) {
        case 1:
        case 4:
            return Buffer.from([Number(value) & 0xff]);
        case 2: {
            const b = Buffer.alloc(4);
            b.writeInt32BE(Number(value));
            return b;
        }
        case 3:
            return Buffer.from(String(value), "latin1");
        case 5: {
            const b = Buffer.alloc(4);
            b.writeUInt32BE(Number(value));
            return b;
        }
        default:
            return Buffer.from(value);
    }
}

let tuyaSeq = 1;

function rawMessage(step, device) {
    if (step.tuya) {
        return {
            cluster: "manuSpecificTuya",
            type: step.type ?? "commandDataReport",
            data: {
                seq: tuyaSeq++,
                dpValues: step.tuya.map(([dp, datatype, value]) => ({dp, datatype, data: tuyaBuffer(datatype, value)})),
            },
            endpoint: device.getEndpoint(step.endpoint ?? 1),
            linkquality: step.linkquality ?? 120,
        };
    }
    return {
        cluster: step.cluster,
        type: step.type,
        data: step.data,
        endpoint: device.getEndpoint(step.endpoint ?? 1),
        linkquality: step.linkquality ?? 120,
    };
}

function exposesOf(definition, device) {
    const exposes = typeof definition.exposes === "function" ? definition.exposes(device, {}) : definition.exposes;
    return JSON.parse(JSON.stringify(exposes));
}

async function one(spec) {
    const device = mockDevice(spec);
    const definition = await zhc.findByDevice(device);
    if (!definition) throw new Error(`no definition for ${spec.model_id} / ${spec.manufacturer}`);
    const entry = {
        ieee_address: spec.ieee,
        type: device.type,
        network_address: device.networkAddress,
        supported: true,
        friendly_name: spec.friendly_name,
        disabled: false,
        definition: {
            source: "native",
            model: definition.model,
            vendor: definition.vendor,
            description: definition.description,
            exposes: exposesOf(definition, device),
            supports_ota: Boolean(definition.ota),
            options: [],
        },
        power_source: device.powerSource,
        model_id: spec.model_id,
        manufacturer: spec.manufacturer,
        interview_completed: true,
        interviewing: false,
    };
    const cached = {};
    const payloads = [];
    const deferred = [];  // what converters publish later themselves (e.g. occupancy timeouts)
    const publishState = (out, linkquality) => {
        zhc.postProcessConvertedFromZigbeeMessage(definition, out, spec.options ?? {}, device);
        const state = {...cached, ...out, linkquality};
        for (const [k, v] of Object.entries(out)) if (!NOT_CACHED.test(k)) cached[k] = v;
        cached.linkquality = linkquality;
        return state;
    };
    for (const step of spec.steps ?? []) {
        if (step.wait !== undefined) {
            // Let converters' timers run, then publish what they published, as zigbee2mqtt does.
            await new Promise((r) => setTimeout(r, step.wait * 1000));
            const out = Object.assign({}, ...deferred.splice(0));
            payloads.push(Object.keys(out).length ? publishState(out, cached.linkquality ?? 120) : null);
            continue;
        }
        const msg = rawMessage(step, device);
        msg.device = device;
        msg.meta = {zclTransactionSequenceNumber: step.tsn ?? payloads.length + 1, manufacturerCode: undefined, frameControl: {}};
        msg.groupID = 0;
        const meta = {device, state: {...cached}, deviceExposesChanged: () => {}};
        const options = spec.options ?? {};
        let out = {};
        const converters = definition.fromZigbee.filter(
            (c) => c.cluster === msg.cluster && (Array.isArray(c.type) ? c.type.includes(msg.type) : c.type === msg.type),
        );
        for (const converter of converters) {
            const converted = await converter.convert(definition, msg, (p) => deferred.push(p), options, meta);
            if (converted) out = {...out, ...converted};
        }
        if (Object.keys(out).length === 0) {
            payloads.push(null);
            continue;
        }
        payloads.push(publishState(out, msg.linkquality));
    }
    return {entry, payloads};
}

async function main() {
    let input = "";
    for await (const chunk of process.stdin) input += chunk;
    const spec = JSON.parse(input);
    const result = {devices: [], payloads: {}};
    for (const dev of spec.devices) {
        const {entry, payloads} = await one(dev);
        result.devices.push(entry);
        result.payloads[dev.friendly_name] = payloads;
    }
    process.stdout.write(JSON.stringify(result));
}

main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
});
