'use strict';
/*
 * UpdateEndpointCommand and UpdateEndpointWeightsAndCapacitiesCommand of
 * @aws-sdk/client-sagemaker.  The SDK checks no member on the client side,
 * so every malformed request below reaches the daemon as written: each must
 * come back as SageMaker's error, as the SDK's error object carries it, and
 * leave the endpoint InService on demo-config.
 *
 * The last block needs the rollout itself (lib/endpoint_update.c): an
 * update that runs to the new config.
 */
const { after, before, describe, it } = require('node:test');
const assert = require('node:assert/strict');
const sm = require('@aws-sdk/client-sagemaker');
const { ACCOUNT, REGION, TEST_TIMEOUT_MS, WAIT, controlClient, editJsonBody, endpointArn, uniqueName } =
  require('./support');

const ROUTING = 'deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration';
const ROLLING = 'deploymentConfig.rollingUpdatePolicy';

function endpointConfigArn(name) {
  return `arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint-config/${name}`;
}

// SageMaker's message for [value, path, constraint] errors; value null is null.
function validation(...errors) {
  const parts = errors.map(
    ([v, p, c]) => `Value ${v === null ? 'null' : `'${v}'`} at '${p}' failed to satisfy constraint: ${c}`,
  );
  return `${parts.length} validation error${parts.length > 1 ? 's' : ''} detected: ${parts.join('; ')}`;
}

// A ValidationException with exactly this message.
function validationException(message) {
  return (e) => {
    assert.ok(e instanceof sm.SageMakerServiceException, `not a SageMakerServiceException: ${e}`);
    assert.equal(e.name, 'ValidationException', `${e.name}: ${e.message}`);
    assert.equal(e.$fault, 'client');
    assert.equal(e.$metadata.httpStatusCode, 400);
    assert.equal(e.message, message);
    return true;
  };
}

function blueGreen(Type, WaitIntervalInSeconds, extra) {
  return { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type, WaitIntervalInSeconds, ...extra } } };
}

describe('malformed updates the daemon refuses', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  const control = controlClient();
  const endpoint = uniqueName('upd');
  let before_;

  before(async () => {
    await control.send(new sm.CreateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: 'demo-config' }));
    await sm.waitUntilEndpointInService({ client: control, ...WAIT }, { EndpointName: endpoint });
    before_ = await control.send(new sm.DescribeEndpointCommand({ EndpointName: endpoint }));
  });
  after(async () => {
    // Nothing here may have changed the endpoint.
    const now = await control.send(new sm.DescribeEndpointCommand({ EndpointName: endpoint }));
    assert.equal(now.EndpointStatus, 'InService');
    assert.equal(now.EndpointConfigName, 'demo-config');
    assert.deepEqual(now.LastModifiedTime, before_.LastModifiedTime);
    await control.send(new sm.DeleteEndpointCommand({ EndpointName: endpoint }));
    control.destroy();
  });

  function update(input) {
    return control.send(new sm.UpdateEndpointCommand({ EndpointName: endpoint, ...input }));
  }

  function weights(DesiredWeightsAndCapacities) {
    return control.send(
      new sm.UpdateEndpointWeightsAndCapacitiesCommand({ EndpointName: endpoint, DesiredWeightsAndCapacities }),
    );
  }

  it('an endpoint that does not exist is named by its ARN', async () => {
    const name = uniqueName('upd-none');
    await assert.rejects(
      control.send(new sm.UpdateEndpointCommand({ EndpointName: name, EndpointConfigName: 'demo-config' })),
      validationException(`Could not find endpoint "${endpointArn(name)}".`),
    );
  });

  it('an endpoint config that does not exist is named by its ARN', async () => {
    const config = uniqueName('no-config');
    await assert.rejects(
      update({ EndpointConfigName: config }),
      validationException(`Could not find endpoint configuration "${endpointConfigArn(config)}".`),
    );
  });

  it('a missing EndpointConfigName must not be null', async () => {
    await assert.rejects(
      update({}),
      validationException(validation([null, 'endpointConfigName', 'Member must not be null'])),
    );
  });

  it('a CANARY without CanarySize is refused', async () => {
    await assert.rejects(
      update({ EndpointConfigName: 'demo-config', DeploymentConfig: blueGreen('CANARY', 0) }),
      validationException(
        validation([null, `${ROUTING}.canarySize`, 'Member must not be null when the traffic routing Type is CANARY']),
      ),
    );
  });

  it('a wait interval over an hour names the maximum', async () => {
    await assert.rejects(
      update({ EndpointConfigName: 'demo-config', DeploymentConfig: blueGreen('ALL_AT_ONCE', 3601) }),
      validationException(
        validation([3601, `${ROUTING}.waitIntervalInSeconds`, 'Member must have value less than or equal to 3600']),
      ),
    );
  });

  it('both update policies are refused', async () => {
    const DeploymentConfig = {
      ...blueGreen('ALL_AT_ONCE', 0),
      RollingUpdatePolicy: { MaximumBatchSize: { Type: 'INSTANCE_COUNT', Value: 1 }, WaitIntervalInSeconds: 0 },
    };
    await assert.rejects(
      update({ EndpointConfigName: 'demo-config', DeploymentConfig }),
      validationException('DeploymentConfig may have only one of BlueGreenUpdatePolicy and RollingUpdatePolicy.'),
    );
  });

  it('a rolling batch of 60% of the fleet is refused', async () => {
    const DeploymentConfig = {
      RollingUpdatePolicy: { MaximumBatchSize: { Type: 'CAPACITY_PERCENT', Value: 60 }, WaitIntervalInSeconds: 0 },
    };
    await assert.rejects(
      update({ EndpointConfigName: 'two-variant-config', DeploymentConfig }),
      validationException(
        validation([60, `${ROLLING}.maximumBatchSize.value`, 'Member must be from 5% to 50% (CAPACITY_PERCENT)']),
      ),
    );
  });

  it('a linear step of 3 of 4 new instances is refused', async () => {
    const DeploymentConfig = blueGreen('LINEAR', 60, { LinearStepSize: { Type: 'INSTANCE_COUNT', Value: 3 } });
    await assert.rejects(
      update({ EndpointConfigName: 'two-variant-config', DeploymentConfig }),
      validationException(
        validation([
          3,
          `${ROUTING}.linearStepSize.value`,
          "Member must be from 10% to 50% of the new fleet's 4 instances (INSTANCE_COUNT)",
        ]),
      ),
    );
  });

  it('an empty alarm list names the minimum', async () => {
    const DeploymentConfig = { ...blueGreen('ALL_AT_ONCE', 0), AutoRollbackConfiguration: { Alarms: [] } };
    await assert.rejects(
      update({ EndpointConfigName: 'demo-config', DeploymentConfig }),
      validationException(
        validation([
          '[]',
          'deploymentConfig.autoRollbackConfiguration.alarms',
          'Member must have length greater than or equal to 1',
        ]),
      ),
    );
  });

  it('a WaitIntervalInSeconds that is a string is a SerializationException', async () => {
    const own = controlClient();
    editJsonBody(own, (body) => ({ ...body, DeploymentConfig: blueGreen('ALL_AT_ONCE', 'soon') }));
    try {
      await assert.rejects(
        own.send(new sm.UpdateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: 'demo-config' })),
        (e) => {
          assert.equal(e.name, 'SerializationException', `${e.name}: ${e.message}`);
          assert.equal(e.$metadata.httpStatusCode, 400);
          return true;
        },
      );
    } finally {
      own.destroy();
    }
  });

  it('UpdateEndpointWeightsAndCapacities with no entries names the minimum', async () => {
    await assert.rejects(
      weights([]),
      validationException(
        validation(['[]', 'desiredWeightsAndCapacities', 'Member must have length greater than or equal to 1']),
      ),
    );
  });

  it('a negative DesiredWeight names the minimum', async () => {
    await assert.rejects(
      weights([{ VariantName: 'AllTraffic', DesiredWeight: -2 }]),
      validationException(
        validation([
          -2,
          'desiredWeightsAndCapacities.1.member.desiredWeight',
          'Member must have value greater than or equal to 0',
        ]),
      ),
    );
  });

  it('an entry with neither a weight nor a count is refused', async () => {
    await assert.rejects(
      weights([{ VariantName: 'AllTraffic' }]),
      validationException(
        validation([
          null,
          'desiredWeightsAndCapacities.1.member',
          'Member must have DesiredWeight or DesiredInstanceCount',
        ]),
      ),
    );
  });

  it('a variant named twice is refused', async () => {
    await assert.rejects(
      weights([
        { VariantName: 'AllTraffic', DesiredWeight: 1 },
        { VariantName: 'AllTraffic', DesiredInstanceCount: 2 },
      ]),
      validationException('DesiredWeightsAndCapacities names variant AllTraffic twice: give each variant once.'),
    );
  });

  it('UpdateEndpointWeightsAndCapacities of an endpoint that does not exist names its ARN', async () => {
    const name = uniqueName('wts-none');
    await assert.rejects(
      control.send(
        new sm.UpdateEndpointWeightsAndCapacitiesCommand({
          EndpointName: name,
          DesiredWeightsAndCapacities: [{ VariantName: 'AllTraffic', DesiredWeight: 1 }],
        }),
      ),
      validationException(`Could not find endpoint "${endpointArn(name)}".`),
    );
  });
});

describe('an update that runs to the new config', { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  const control = controlClient();
  const endpoint = uniqueName('upd-run');

  before(async () => {
    await control.send(new sm.CreateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: 'demo-config' }));
    await sm.waitUntilEndpointInService({ client: control, ...WAIT }, { EndpointName: endpoint });
  });
  after(async () => {
    await control.send(new sm.DeleteEndpointCommand({ EndpointName: endpoint }));
    control.destroy();
  });

  it('UpdateEndpointCommand answers the ARN and the endpoint comes back InService on the new config', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const r = await control.send(
      new sm.UpdateEndpointCommand({ EndpointName: endpoint, EndpointConfigName: 'invoke-config' }),
    );
    assert.equal(r.EndpointArn, endpointArn(endpoint));
    const w = await sm.waitUntilEndpointInService({ client: control, ...WAIT }, { EndpointName: endpoint });
    assert.equal(w.state, 'SUCCESS');
    const d = await control.send(new sm.DescribeEndpointCommand({ EndpointName: endpoint }));
    assert.equal(d.EndpointConfigName, 'invoke-config');
    assert.equal(d.FailureReason, undefined);
  });
});
