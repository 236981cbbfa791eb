import { NODE_MATRIX, parseVersions } from '../../../scripts/node-matrix';

describe('node matrix versions', () => {
  it('defaults to the cloud runtimes other than this one, one per major', () => {
    expect(parseVersions([])).toEqual([...NODE_MATRIX]);
    expect(NODE_MATRIX.map((v) => v.split('.')[0])).toEqual(['16', '18', '22']);
  });

  it('takes an explicit list', () => {
    expect(parseVersions(['--versions', '18.20.8,22.23.3'])).toEqual(['18.20.8', '22.23.3']);
  });

  it.each([
    [['--versions', '18'], '--versions: "18" is not x.y.z'],
    [['--versions', '18.20.8,latest'], '--versions: "latest" is not x.y.z'],
    [['--versions'], '--versions needs a comma-separated list, e.g. 16.20.2,18.20.8'],
  ])('refuses %j', (args, message) => {
    expect(() => parseVersions(args)).toThrow(message);
  });
});
