'use strict';
/*
 * Models and endpoint configs through @aws-sdk/client-sagemaker: a deploy
 * from CreateModel to InvokeEndpoint and back to nothing, and the daemon's
 * own validation of CreateModel and CreateEndpointConfig as the SDK's error
 * objects carry it (the SDK checks no member on the client side).
 *
 * The image is the one the daemon config's model "demo" runs, which is also
 * the one image its allowed_images lets CreateModel use.
 */
const { after, before, describe, it } = require('node:test');
const assert = require('node:assert/strict');
const sm = require('@aws-sdk/client-sagemaker');
const rt = require('@aws-sdk/client-sagemaker-runtime');
const { ACCOUNT, REGION, TEST_TIMEOUT_MS, WAIT, controlClient, endpointArn, runtimeClient, uniqueName } =
  require('./support');

const ROLE = `arn:aws:iam::${ACCOUNT}:role/SageMakerExecutionRole`;
const INSTANCE_TYPE = 'ml.t2.medium';
// The one instance type the test daemon's instance_types defines.
const KNOWN_TYPES = '[ml.t2.medium]';
// ModelName's pattern as botocore's current model of SageMaker writes it.
const MODEL_NAME_PATTERN = String.raw`^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?`;

function modelArn(name) {
  return `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model/${name}`;
}

function endpointConfigArn(name) {
  return `arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint-config/${name}`;
}

function createModel(name, image) {
  return new sm.CreateModelCommand({ ModelName: name, ExecutionRoleArn: ROLE, PrimaryContainer: { Image: image } });
}

function variant(modelName, extra) {
  return {
    VariantName: 'AllTraffic',
    ModelName: modelName,
    InitialInstanceCount: 1,
    InstanceType: INSTANCE_TYPE,
    InitialVariantWeight: 1,
    ...extra,
  };
}

// The image the daemon's YAML model "demo" runs.
async function demoImage(client) {
  const r = await client.send(new sm.DescribeModelCommand({ ModelName: 'demo' }));
  return r.PrimaryContainer.Image;
}

// Deletes what a test may have left; a name already gone is fine.
async function deleteQuietly(client, command) {
  try {
    await client.send(command);
  } catch (e) {
    if (!String(e.message).startsWith('Could not find')) throw e;
  }
}

// A ValidationException with exactly this message, as the SDK surfaces it.
function validationException(message) {
  return (e) => {
    assert.ok(e instanceof sm.SageMakerServiceException, `not a SageMakerServiceException: ${e}`);
    assert.equal(e.name, 'ValidationException', `${e.name}: ${e.message}`);
    assert.equal(e.$fault, 'client');
    assert.equal(e.$metadata.httpStatusCode, 400);
    assert.ok(e.$metadata.requestId, 'no request id');
    assert.equal(e.message, message);
    return true;
  };
}

describe('a model deployed and taken down again', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  const control = controlClient();
  const runtime = runtimeClient();
  const endpoint = uniqueName('mdl');
  const model = `${endpoint}-model`;
  const config = `${endpoint}-config`;
  let image;

  before(async () => {
    image = await demoImage(control);
  });
  after(async () => {
    await deleteQuietly(control, new sm.DeleteEndpointCommand({ EndpointName: endpoint }));
    await deleteQuietly(control, new sm.DeleteEndpointConfigCommand({ EndpointConfigName: config }));
    await deleteQuietly(control, new sm.DeleteModelCommand({ ModelName: model }));
    control.destroy();
    runtime.destroy();
  });

  it('CreateModelCommand answers the model ARN', async () => {
    const r = await control.send(
      new sm.CreateModelCommand({
        ModelName: model,
        ExecutionRoleArn: ROLE,
        PrimaryContainer: { Image: image, Environment: { DEMO_VARIANT: 'js-model' } },
        Tags: [{ Key: 'owner', Value: 'js' }],
      }),
    );
    assert.equal(r.ModelArn, modelArn(model));
    assert.equal(r.$metadata.httpStatusCode, 200);
  });

  it('DescribeModelCommand gives back what was created', async () => {
    const r = await control.send(new sm.DescribeModelCommand({ ModelName: model }));
    assert.equal(r.ModelName, model);
    assert.equal(r.ModelArn, modelArn(model));
    assert.equal(r.ExecutionRoleArn, ROLE);
    assert.equal(r.PrimaryContainer.Image, image);
    assert.deepEqual(r.PrimaryContainer.Environment, { DEMO_VARIANT: 'js-model' });
    assert.equal(r.EnableNetworkIsolation, false);
    assert.ok(r.CreationTime instanceof Date, `CreationTime is ${r.CreationTime}`);
  });

  it('CreateEndpointConfigCommand answers the config ARN', async () => {
    const r = await control.send(
      new sm.CreateEndpointConfigCommand({ EndpointConfigName: config, ProductionVariants: [variant(model)] }),
    );
    assert.equal(r.EndpointConfigArn, endpointConfigArn(config));
  });

  it('CreateEndpointCommand makes an endpoint that comes InService', { timeout: TEST_TIMEOUT_MS }, async () => {
    const r = await control.send(new sm.CreateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: config }));
    assert.equal(r.EndpointArn, endpointArn(endpoint));
    const w = await sm.waitUntilEndpointInService({ client: control, ...WAIT }, { EndpointName: endpoint });
    assert.equal(w.state, 'SUCCESS');
  });

  it('InvokeEndpointCommand is answered by the model', async () => {
    const r = await runtime.send(
      new rt.InvokeEndpointCommand({
        EndpointName: endpoint,
        Body: '{"instances": [1, 2, 3]}',
        ContentType: 'application/json',
        Accept: 'application/json',
      }),
    );
    assert.equal(r.$metadata.httpStatusCode, 200);
    assert.equal(r.InvokedProductionVariant, 'AllTraffic');
    assert.equal(JSON.parse(r.Body.transformToString()).variant, 'js-model');
  });

  it('DeleteModelCommand and DeleteEndpointConfigCommand leave the endpoint serving', async () => {
    const m = await control.send(new sm.DeleteModelCommand({ ModelName: model }));
    assert.equal(m.$metadata.httpStatusCode, 200);
    const c = await control.send(new sm.DeleteEndpointConfigCommand({ EndpointConfigName: config }));
    assert.equal(c.$metadata.httpStatusCode, 200);
    await assert.rejects(
      control.send(new sm.DescribeModelCommand({ ModelName: model })),
      validationException(`Could not find model "${modelArn(model)}".`),
    );
    await assert.rejects(
      control.send(new sm.DescribeEndpointConfigCommand({ EndpointConfigName: config })),
      validationException(`Could not find endpoint configuration "${endpointConfigArn(config)}".`),
    );
    const r = await runtime.send(
      new rt.InvokeEndpointCommand({ EndpointName: endpoint, Body: 'x', ContentType: 'text/plain' }),
    );
    assert.equal(JSON.parse(r.Body.transformToString()).variant, 'js-model');
  });

  it('DeleteEndpointCommand takes the endpoint away', { timeout: TEST_TIMEOUT_MS }, async () => {
    await control.send(new sm.DeleteEndpointCommand({ EndpointName: endpoint }));
    const w = await sm.waitUntilEndpointDeleted({ client: control, ...WAIT }, { EndpointName: endpoint });
    assert.equal(w.state, 'SUCCESS');
  });
});

describe('validation the daemon does for the SDK', () => {
  const control = controlClient();
  const model = uniqueName('mdl-valid');
  let image;

  before(async () => {
    image = await demoImage(control);
    await control.send(createModel(model, image));
  });
  after(async () => {
    await deleteQuietly(control, new sm.DeleteModelCommand({ ModelName: model }));
    control.destroy();
  });

  // Whatever a refused create names must not exist afterwards.
  async function assertNoModel(name) {
    await assert.rejects(
      control.send(new sm.DescribeModelCommand({ ModelName: name })),
      validationException(`Could not find model "${modelArn(name)}".`),
    );
  }

  async function assertNoEndpointConfig(name) {
    await assert.rejects(
      control.send(new sm.DescribeEndpointConfigCommand({ EndpointConfigName: name })),
      validationException(`Could not find endpoint configuration "${endpointConfigArn(name)}".`),
    );
  }

  it('a ModelName with an underscore names modelName and its pattern', async () => {
    const name = `${uniqueName('bad')}_name`;
    await assert.rejects(
      control.send(createModel(name, image)),
      validationException(
        `1 validation error detected: Value '${name}' at 'modelName' failed to satisfy constraint: ` +
          `Member must satisfy regular expression pattern: ${MODEL_NAME_PATTERN}`,
      ),
    );
  });

  it('an image allowed_images does not list is refused and creates nothing', async () => {
    const name = uniqueName('mdl-img');
    const other = 'registry.example/someone-else:latest';
    await assert.rejects(
      control.send(createModel(name, other)),
      validationException(
        `Image ${other} is not allowed on this host: the daemon config's allowed_images has no pattern it matches.`,
      ),
    );
    await assertNoModel(name);
  });

  it('an InitialInstanceCount of 0 names the member and its bound', async () => {
    const name = uniqueName('cfg-zero');
    await assert.rejects(
      control.send(
        new sm.CreateEndpointConfigCommand({
          EndpointConfigName: name,
          ProductionVariants: [variant(model, { InitialInstanceCount: 0 })],
        }),
      ),
      validationException(
        "1 validation error detected: Value '0' at 'productionVariants.1.member.initialInstanceCount' " +
          'failed to satisfy constraint: Member must have value greater than or equal to 1',
      ),
    );
    await assertNoEndpointConfig(name);
  });

  it('an instance type the host does not define names the ones it does', async () => {
    const name = uniqueName('cfg-type');
    await assert.rejects(
      control.send(
        new sm.CreateEndpointConfigCommand({
          EndpointConfigName: name,
          ProductionVariants: [variant(model, { InstanceType: 'ml.p4d.24xlarge' })],
        }),
      ),
      validationException(
        "1 validation error detected: Value 'ml.p4d.24xlarge' at 'productionVariants.1.member.instanceType' " +
          'failed to satisfy constraint: Member must be an instance type this host defines ' +
          `(instance_types in the daemon config): ${KNOWN_TYPES}`,
      ),
    );
    await assertNoEndpointConfig(name);
  });

  it('CreateModelCommand of an existing name says so with its ARN', async () => {
    await assert.rejects(
      control.send(createModel(model, image)),
      validationException(`Cannot create already existing model "${modelArn(model)}".`),
    );
  });

  it('CreateEndpointConfigCommand naming a missing model names its ARN', async () => {
    const name = uniqueName('cfg-nomodel');
    const missing = `${name}-model`;
    await assert.rejects(
      control.send(
        new sm.CreateEndpointConfigCommand({ EndpointConfigName: name, ProductionVariants: [variant(missing)] }),
      ),
      validationException(`Could not find model "${modelArn(missing)}".`),
    );
    await assertNoEndpointConfig(name);
  });
});
