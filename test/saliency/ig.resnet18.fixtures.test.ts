import { igFixtureSuite } from '../support/ig-fixtures.js';

igFixtureSuite('resnet18_c3');
