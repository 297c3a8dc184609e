// Network isolation (main.bicep networkIsolation=true): a virtual network whose "app" subnet is
// delegated to Microsoft.App/environments (Flex Consumption VNet integration: all the app's
// outbound traffic leaves through it), a "private-endpoints" subnet with one private endpoint per
// storage service (blob, queue, table) and one for Key Vault, and the private DNS zones that make
// the public host names resolve to those endpoints inside the network. Storage and Key Vault then
// turn public network access off (modules/storage.bicep, modules/keyvault.bicep).
// The app still reaches the Internet (Microsoft Graph, the destinations, Application Insights
// ingestion) through the app subnet's outbound access: keep it, or attach a NAT gateway (static
// egress IP) to the app subnet.
param name string
param location string
param tags object = {}

@description('Address space of the virtual network.')
param addressPrefix string = '10.40.0.0/16'

@description('Subnet for the Flex Consumption VNet integration (a /24 leaves room for scale-out; delegated to Microsoft.App/environments).')
param appSubnetPrefix string = '10.40.0.0/24'

@description('Subnet for the private endpoints.')
param privateEndpointSubnetPrefix string = '10.40.1.0/24'

param storageAccountId string
param keyVaultId string

resource vnet 'Microsoft.Network/virtualNetworks@2025-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [addressPrefix]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          // Explicit: new subnets may default to no implicit outbound access, and the collector
          // must reach Microsoft Graph and its destinations.
          defaultOutboundAccess: true
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          defaultOutboundAccess: false
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }

  resource appSubnet 'subnets' existing = {
    name: 'app'
  }

  resource privateEndpointSubnet 'subnets' existing = {
    name: 'private-endpoints'
  }
}

// One private endpoint per service: group id -> target resource and the zone whose A record
// makes <account>.<service>.<suffix> resolve to the endpoint. Zone names follow the cloud's own
// suffixes (environment()), so the template also works outside the public cloud.
var endpoints = [
  {
    groupId: 'blob'
    target: storageAccountId
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    groupId: 'queue'
    target: storageAccountId
    zone: 'privatelink.queue.${environment().suffixes.storage}'
  }
  {
    groupId: 'table'
    target: storageAccountId
    zone: 'privatelink.table.${environment().suffixes.storage}'
  }
  {
    groupId: 'vault'
    // keyvaultDns is '.vault.azure.net' in the public cloud; the private zone is privatelink.vaultcore.azure.net.
    target: keyVaultId
    zone: 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}'
  }
]

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for endpoint in endpoints: {
  name: endpoint.zone
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (endpoint, i) in endpoints: {
  parent: zones[i]
  name: '${name}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2025-05-01' = [for endpoint in endpoints: {
  name: 'pe-${last(split(endpoint.target, '/'))}-${endpoint.groupId}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: vnet::privateEndpointSubnet.id
    }
    privateLinkServiceConnections: [
      {
        name: endpoint.groupId
        properties: {
          privateLinkServiceId: endpoint.target
          groupIds: [endpoint.groupId]
        }
      }
    ]
  }
}]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2025-05-01' = [for (endpoint, i) in endpoints: {
  parent: privateEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: replace(endpoint.zone, '.', '-')
        properties: {
          privateDnsZoneId: zones[i].id
        }
      }
    ]
  }
}]

output vnetId string = vnet.id
output appSubnetId string = vnet::appSubnet.id
output privateEndpointSubnetId string = vnet::privateEndpointSubnet.id
